// Live notifications for Roster's signed-in pages: the bell's unread count, and new items at
// the top of the notifications list. A WebSocket to /ws/v1/notifications, authenticated by
// the page's own session cookie (the server checks the Origin). Without this script, or
// without WebSocket, the pages show the same things on each load.
(function () {
  "use strict";

  var RETRY_MIN_MS = 1000;
  var RETRY_MAX_MS = 30000;
  // Closes after which trying again cannot help: signed out, suspended, refused origin.
  var FINAL_CODES = { 4401: true, 4403: true };

  function start() {
    var bell = document.querySelector("[data-notification-bell]");
    if (!bell || !("WebSocket" in window)) { return; }
    var badge = bell.querySelector("[data-unread-count]");
    var announce = document.querySelector("[data-notification-announce]");
    var list = document.querySelector("[data-notification-list][data-live]");
    var template = document.querySelector("template[data-notification-template]");
    var kinds = readKinds();
    var seen = {};
    var newest = null;
    var retryMs = RETRY_MIN_MS;
    var recount = null;

    if (list) {
      var first = list.querySelector("[data-notification-id]");
      if (first) { newest = first.getAttribute("data-notification-id"); }
      Array.prototype.forEach.call(list.querySelectorAll("[data-notification-id]"), function (item) {
        seen[item.getAttribute("data-notification-id")] = true;
      });
    }

    function showCount(count) {
      badge.textContent = String(count);
      badge.classList.toggle("warning", count > 0);
    }

    // The server's count settles what a socket cannot know (read elsewhere, missed while
    // connecting); asked once the socket is up and shortly after each arrival.
    function askCount(delayMs) {
      window.clearTimeout(recount);
      recount = window.setTimeout(function () {
        var url = bell.getAttribute("data-count-url");
        if (!url || !window.fetch) { return; }
        window.fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (body) {
            if (body && typeof body.unread === "number") { showCount(body.unread); }
          })
          .catch(function () { /* the count shown stays until the next arrival */ });
      }, delayMs);
    }

    function arrived(notification) {
      if (!notification || !notification.id || seen[notification.id]) { return; }
      seen[notification.id] = true;
      newest = notification.id;
      if (!notification.read_at) {
        showCount((parseInt(badge.textContent, 10) || 0) + 1);
      }
      if (announce) { announce.textContent = announcement(announce, notification.title); }
      if (list && template) { prepend(notification); }
      askCount(500);
    }

    function prepend(notification) {
      var item = template.content.firstElementChild.cloneNode(true);
      item.setAttribute("data-notification-id", notification.id);
      fill(item, "title", notification.title);
      fill(item, "kind", kinds[notification.kind] || notification.kind);
      // ``when``: the time as the pages show it (the person's zone and formats), which the
      // server adds on a page's socket; the browser's own rendering is a fallback only.
      fill(item, "when", notification.when ||
        new Date(notification.created_at).toLocaleString(pageLanguage()));
      var message = item.querySelector('[data-field="message"]');
      if (notification.message) {
        message.textContent = notification.message;
      } else {
        message.parentNode.removeChild(message);
      }
      if (notification.priority === "high") {
        item.querySelector('[data-field="high"]').hidden = false;
      }
      var form = item.querySelector("form");
      form.setAttribute(
        "action",
        form.getAttribute("action").replace("00000000-0000-0000-0000-000000000000", notification.id)
      );
      list.insertBefore(item, list.firstElementChild);
      var empty = document.querySelector("[data-notification-empty]");
      if (empty) { empty.hidden = true; }
    }

    function fill(item, field, text) {
      var node = item.querySelector('[data-field="' + field + '"]');
      if (node) { node.textContent = text; }
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket;
      try {
        socket = new WebSocket(scheme + window.location.host + bell.getAttribute("data-socket-path"));
      } catch (e) {
        return;
      }
      socket.addEventListener("message", function (event) {
        var message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        if (message.type === "connection") {
          retryMs = RETRY_MIN_MS;
          bell.setAttribute("data-live", "connected");
          if (newest) { socket.send(JSON.stringify({ type: "resume", after: newest })); }
          askCount(0);
        } else if (message.type === "notification") {
          arrived(message.notification);
        }
      });
      socket.addEventListener("close", function (event) {
        bell.removeAttribute("data-live");
        if (FINAL_CODES[event.code]) { return; }
        window.setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      });
    }

    connect();
  }

  // The page's words come from the page (data-announce-text, translated by the server):
  // this script holds no text of its own.
  function announcement(node, title) {
    var text = node.getAttribute("data-announce-text") || "{title}";
    return text.replace("{title}", title);
  }

  function pageLanguage() {
    return document.documentElement.getAttribute("lang") || undefined;
  }

  function readKinds() {
    var node = document.getElementById("notification-kinds");
    if (!node) { return {}; }
    try { return JSON.parse(node.textContent); } catch (e) { return {}; }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
