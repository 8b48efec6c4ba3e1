// The console's entry module: sign-in, sign-out, and starting the page's own module once a
// token is kept. Nothing here or in the other modules logs the token or puts it in a URL.
import { api, clearToken, describe, setToken, token, whenUnauthorized } from "./api.js";
import { $, clearAlert } from "./ui.js";

const PAGES = {
  overview: () => import("./overview.js"),
  bundle: () => import("./bundle.js"),
  events: () => import("./events.js"),
  logs: () => import("./logs.js"),
};
const REFRESH_MS = Number(document.body.dataset.refreshMs) || 2000;
let stopPage;

function showLogin(message = "") {
  stopPage?.();
  stopPage = undefined;
  clearAlert();
  $("#content").hidden = true;
  $("#sign-out").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
  $("#token").focus();
}

async function showPage() {
  $("#login").hidden = true;
  $("#content").hidden = false;
  $("#sign-out").hidden = false;
  const page = document.body.dataset.page;
  const module = await PAGES[page]();
  stopPage = module.start({ bundle: document.body.dataset.bundle, refreshMs: REFRESH_MS });
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#token");
  const candidate = input.value.trim();
  const button = $("#login-form button[type=submit]");
  button.disabled = true;
  try {
    await api("/admin/status", { token: candidate, quiet: true });
    setToken(candidate);
    input.value = "";
    await showPage();
    $("#content").focus();
  } catch (error) {
    $("#login-error").textContent = error?.status === 401
      ? "Wrong token: the engine refused it (401 Unauthorized)."
      : `Cannot sign in: ${describe(error)}`;
    input.select();
  } finally {
    button.disabled = false;
  }
});

$("#sign-out").addEventListener("click", () => {
  clearToken();
  showLogin("Signed out.");
});

whenUnauthorized(() => {
  clearToken();
  showLogin("The engine refused the saved token (401): sign in again.");
});

// The form's button stays disabled until now: a submit before this module ran would have sent
// the form to the engine (a POST, never a URL with the token, answered 405).
$("#login-form button[type=submit]").disabled = false;
if (token()) showPage();
else showLogin();
