// The submit form, with scripts on: a file over the page's limit goes straight to the
// uploads bucket by signed URL, with its progress shown, then the page waits for the
// upload trigger to make it a run and opens it. Smaller files (and every file with
// scripts off) go with the form itself.
"use strict";
(function () {
  var form = document.getElementById("submit-form");
  if (!form) return;
  var grantUrl = form.getAttribute("data-grant-url");
  var above = Number(form.getAttribute("data-signed-above") || "0");
  var file = document.getElementById("submit-file");
  var workflow = document.getElementById("submit-workflow");
  var button = form.querySelector("button[type=submit]");
  var box = document.getElementById("submit-progress");
  var bar = document.getElementById("submit-bar");
  var status = document.getElementById("submit-status");
  var problem = document.getElementById("submit-error");
  var POLL_MS = 1000;
  var POLL_TRIES = 180;

  function say(text) {
    status.textContent = text;
  }

  function fail(text) {
    problem.textContent = text;
    problem.hidden = false;
    box.hidden = true;
    say("");
    button.disabled = false;
  }

  // The service's own words: a problem+json detail, else the status line.
  function reason(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body && body.detail) return body.detail;
    } catch (ignored) {
      // not JSON: fall through
    }
    return "the console answered " + xhr.status + " " + (xhr.statusText || "");
  }

  function send(method, url, body, headers, onDone, onProgress) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, url);
    Object.keys(headers).forEach(function (name) {
      xhr.setRequestHeader(name, headers[name]);
    });
    if (onProgress) xhr.upload.addEventListener("progress", onProgress);
    xhr.addEventListener("load", function () { onDone(xhr); });
    xhr.addEventListener("error", function () {
      fail("The connection failed before " + (method === "PUT" ? "the file was sent" : "an answer came") + "; try again.");
    });
    xhr.send(body);
    return xhr;
  }

  function poll(url, tries) {
    send("GET", url, null, { Accept: "application/json" }, function (xhr) {
      if (xhr.status === 404 && tries > 0) {
        window.setTimeout(function () { poll(url, tries - 1); }, POLL_MS);
        return;
      }
      if (xhr.status !== 200) {
        fail(xhr.status === 404
          ? "The file was stored but no run has started for it yet; look for it on the Runs page in a minute."
          : reason(xhr));
        return;
      }
      var seen = JSON.parse(xhr.responseText);
      if (seen.run_url) {
        say("Run started; opening it.");
        window.location.assign(seen.run_url);
      } else {
        fail("The file was refused: " + (seen.reason || seen.status));
      }
    });
  }

  function put(grant, chosen) {
    box.hidden = false;
    say("Uploading " + chosen.name + "…");
    send(grant.method, grant.url, chosen, grant.headers, function (xhr) {
      if (xhr.status < 200 || xhr.status >= 300) {
        fail("Storage refused the file (" + xhr.status + "); try again.");
        return;
      }
      bar.value = 100;
      say("Uploaded; waiting for the run to start…");
      poll(grant.status_url, POLL_TRIES);
    }, function (event) {
      if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
    });
  }

  // Back to a page the browser kept: its button may still be off from the last send.
  window.addEventListener("pageshow", function () { button.disabled = false; });

  form.addEventListener("submit", function (event) {
    var chosen = file.files && file.files[0];
    problem.hidden = true;
    if (!grantUrl || !chosen || chosen.size <= above) {
      button.disabled = true; // the form goes as it is; once
      return;
    }
    event.preventDefault();
    button.disabled = true;
    say("Asking for an upload address…");
    var ask = JSON.stringify({
      workflow: workflow.value,
      filename: chosen.name,
      content_type: chosen.type || "",
      size_bytes: chosen.size,
    });
    var headers = {
      "Content-Type": "application/json",
      Accept: "application/json",
      "X-CSRF-Token": window.assay.csrf(),
    };
    send("POST", grantUrl, ask, headers, function (xhr) {
      if (xhr.status !== 201) {
        fail(reason(xhr));
        return;
      }
      put(JSON.parse(xhr.responseText), chosen);
    });
  });
})();
