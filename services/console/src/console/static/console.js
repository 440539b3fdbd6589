/* The console's own script: uploads a product file with a progress bar (XMLHttpRequest
   reports upload progress; fetch does not). Everything else is plain forms and htmx. */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = form.querySelector("input[type=file]").files[0];
    var error = document.getElementById("e-file");
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var report = document.getElementById("intake-report");
    if (!file) { error.textContent = "Choose the product file to upload."; error.hidden = false; return; }
    error.hidden = true;
    var url = form.dataset.upload + "?format=" + encodeURIComponent(form.elements.format.value) +
      "&mode=" + encodeURIComponent(form.elements.mode.value);
    var csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    var xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); bar.textContent = bar.value + " %"; }
    });
    xhr.upload.addEventListener("load", function () { bar.value = 100; status.textContent = "Uploaded; catalog-sync is reading the file…"; });
    xhr.addEventListener("load", function () {
      status.textContent = xhr.status < 400 ? "Done." : "The upload failed (HTTP " + xhr.status + ").";
      report.innerHTML = xhr.responseText;  /* server-rendered, escaped by the template */
    });
    xhr.addEventListener("error", function () { status.textContent = "The console did not answer; try again."; });
    bar.value = 0;
    status.textContent = "Uploading " + file.name + "…";
    xhr.send(file);
  });
});
