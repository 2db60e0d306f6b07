// Uploads with a progress bar. Enhances every <form data-upload>, which works
// without JavaScript as a plain multipart form:
//
// - a drop zone around the file input (the input stays the file picker);
// - the size limit (data-max-bytes) is checked before anything is sent, with
//   the server's own message (data-too-large, "{size}" filled in here);
// - the form is sent with XMLHttpRequest so that <progress> follows the upload;
//   the server answers JSON (we send Accept: application/json):
//   {"redirect": url} to follow, or {"errors": {field: [message, ...]}} shown
//   next to the fields ("__all__": above them).

const UNITS = ["KB", "MB", "GB", "TB"];

function language() {
  return document.documentElement.lang || undefined;
}

// Like Django's filesizeformat: binary multiples, one decimal.
function formatSize(bytes) {
  let value = bytes;
  let unit = "bytes";
  for (const next of UNITS) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  if (unit === "bytes") return `${bytes} bytes`;
  const number = new Intl.NumberFormat(language(), {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  }).format(value);
  return `${number} ${unit}`;
}

function errorBox(form, name) {
  return (
    form.querySelector(`[data-errors-for="${CSS.escape(name)}"]`) ||
    form.querySelector('[data-errors-for="__all__"]')
  );
}

function clearErrors(form) {
  for (const box of form.querySelectorAll("[data-errors-for]")) {
    box.replaceChildren();
    box.hidden = true;
  }
  for (const field of form.querySelectorAll(".field-invalid")) {
    field.classList.remove("field-invalid");
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
  }
}

function showErrors(form, errors) {
  let first = null;
  for (const [name, messages] of Object.entries(errors)) {
    const box = errorBox(form, name);
    if (!box) continue;
    const list = document.createElement("ul");
    list.className = "errorlist";
    for (const message of messages) {
      const item = document.createElement("li");
      item.textContent = message;
      list.append(item);
    }
    box.append(list);
    box.hidden = false;
    const input = form.elements.namedItem(name);
    if (input && input.closest) {
      input.setAttribute("aria-invalid", "true");
      input.closest(".field")?.classList.add("field-invalid");
      first = first || input;
    }
  }
  first?.focus();
}

function enhance(form) {
  const input = form.querySelector('input[type="file"]');
  const zone = form.querySelector("[data-dropzone]");
  const box = form.querySelector("[data-progress]");
  const progress = box.querySelector("progress");
  const percent = box.querySelector("[data-percent]");
  const submit = form.querySelector('[type="submit"]');
  const maxBytes = Number(form.dataset.maxBytes);
  const percentFormat = new Intl.NumberFormat(language(), { style: "percent" });
  let sending = false;

  zone.classList.add("dropzone-ready");
  zone.querySelector("[data-dropzone-hint]").hidden = false;
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dropzone-over");
    });
  }
  for (const type of ["dragleave", "dragend", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("dropzone-over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (sending || !event.dataTransfer?.files.length) return;
    input.files = event.dataTransfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  // The error for a file over the limit, or null.
  function sizeError() {
    const file = input.files[0];
    if (!file || !(maxBytes > 0) || file.size <= maxBytes) return null;
    return form.dataset.tooLarge.replace("{size}", formatSize(file.size));
  }

  input.addEventListener("change", () => {
    clearErrors(form);
    const error = sizeError();
    if (error) showErrors(form, { [input.name]: [error] });
  });

  function show(fraction) {
    progress.value = Math.min(100, fraction * 100);
    percent.textContent = percentFormat.format(Math.min(1, fraction));
  }

  function start() {
    sending = true;
    show(0);
    box.hidden = false;
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
  }

  function stop() {
    sending = false;
    box.hidden = true;
    submit.disabled = false;
    form.removeAttribute("aria-busy");
  }

  function failed() {
    stop();
    showErrors(form, { __all__: [form.dataset.failed] });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (sending) return;
    clearErrors(form);
    const error = sizeError();
    if (error) {
      showErrors(form, { [input.name]: [error] });
      return;
    }
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    const token = form.elements.namedItem("csrfmiddlewaretoken");
    if (token) request.setRequestHeader("X-CSRFToken", token.value);
    request.responseType = "json";
    request.upload.addEventListener("progress", (progressEvent) => {
      if (progressEvent.lengthComputable) show(progressEvent.loaded / progressEvent.total);
    });
    request.upload.addEventListener("load", () => {
      show(1);
      percent.textContent = form.dataset.checking;
    });
    request.addEventListener("load", () => {
      const answer = request.response;
      if (answer?.redirect) {
        window.location.assign(answer.redirect);
        return;
      }
      if (answer?.errors) {
        stop();
        showErrors(form, answer.errors);
        return;
      }
      failed();
    });
    request.addEventListener("error", failed);
    request.addEventListener("abort", failed);
    request.addEventListener("timeout", failed);
    start();
    request.send(new FormData(form));
  });
}

for (const form of document.querySelectorAll("form[data-upload]")) enhance(form);
