// Herald's composer: refresh the preview pane while the person types. The page works without it (Preview button).
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var pane = document.getElementById("preview");
  if (!form || !pane || !window.fetch || !window.FormData || !window.AbortController) {
    return;
  }
  var idField = document.getElementById("id");
  var timer = null;
  var inflight = null;

  function suggest(html) {
    var holder = pane.querySelector("[data-suggested-id]");
    if (idField && holder) {
      idField.placeholder = holder.getAttribute("data-suggested-id");
    }
  }

  function refresh() {
    var data = new FormData(form);
    data.delete("action");
    if (inflight) {
      inflight.abort();
    }
    inflight = new AbortController();
    pane.setAttribute("aria-busy", "true");
    fetch("/admin/compose/preview", {method: "POST", body: data, credentials: "same-origin", signal: inflight.signal})
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("preview answered " + answer.status);
        }
        return answer.text();
      })
      .then(function (html) {
        pane.innerHTML = html;
        suggest(html);
        pane.setAttribute("aria-busy", "false");
      })
      .catch(function () {
        pane.setAttribute("aria-busy", "false");
      });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 350);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);

  // Uploading a picture fills in the Image field; without this script the upload opens its own page.
  var upload = document.getElementById("upload");
  var image = document.getElementById("image");
  var status = document.getElementById("upload-status");
  if (upload && image && status) {
    upload.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(upload);
      var alt = document.getElementById("image_alt");
      if (alt && alt.value) {
        data.append("alt", alt.value);
      }
      status.textContent = "Uploading…";
      fetch("/admin/media", {method: "POST", body: data, credentials: "same-origin",
                             headers: {"Accept": "application/json"}})
        .then(function (answer) {
          return answer.json().then(function (body) {
            return {ok: answer.ok, body: body};
          });
        })
        .then(function (answer) {
          if (answer.ok) {
            image.value = answer.body.image;
            status.textContent = "Uploaded: " + answer.body.width + " × " + answer.body.height + " pixels, " +
              Math.round(answer.body.bytes / 1000) + " kB, saved as " + answer.body.image + ".";
            later();
          } else {
            status.textContent = answer.body.error || "The upload failed.";
          }
        })
        .catch(function () {
          status.textContent = "The upload failed: check the connection and try again.";
        });
    });
  }
}());
