// Roster's page behaviour. Served from our static files so the Content-Security-Policy
// can forbid inline scripts. Every page works without it; it only adds conveniences.
(function () {
  "use strict";

  // <button data-copy-target="id">: copy the text of that element to the clipboard.
  function copyText(button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) { return; }
    var text = ("value" in target && target.value !== undefined) ? target.value : target.textContent;
    var done = function () {
      var status = document.getElementById(button.getAttribute("data-copy-status") || "");
      if (status) { status.textContent = "Copied to the clipboard."; }
      button.textContent = "Copied";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text.trim()).then(done, function () { selectText(target); });
    } else {
      selectText(target);
      try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
    }
  }

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) { event.preventDefault(); copyText(button); }
  });

  // <form data-confirm="question">: ask before destructive actions.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
})();
