# workerd config for the load harness: one worker serving bench/load/workerd/worker.js.
# The harness overrides the socket address with `--socket-addr http=127.0.0.1:<free port>`.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "hello", worker = .helloWorker)],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "hello")],
);

const helloWorker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2024-09-23",
);
