/*
 * The pre-screening chat: a small, accessible widget on Rasa's socket.io channel.
 *
 * - It asks Rasa for a session (`session_request`, answered by `session_confirm`): the server
 *   issues an id and a token bound to it, and the widget keeps both, so a reload that presents
 *   them carries on the same conversation. An id without its token gets a new session.
 * - Messages are added to a role="log" live region; buttons are quick-reply buttons inside the
 *   bot's message; the status line (role="status") says when the assistant is typing.
 * - The transcript is kept in sessionStorage: it holds health answers, so it lasts through reloads
 *   of this tab but not beyond it, and nothing is left on a shared computer once the tab closes.
 */
(function () {
  "use strict";

  var STORE = window.sessionStorage;
  var REPLY_TIMEOUT_MS = 30000;

  function start(root) {
    var config = JSON.parse(document.getElementById("chat-config").textContent);
    var words = config.strings;
    var log = root.querySelector("[data-chat-log]");
    var status = root.querySelector("[data-chat-status]");
    var form = root.querySelector("[data-chat-form]");
    var input = root.querySelector("[data-chat-input]");
    var restart = root.querySelector("[data-chat-restart]");
    var storageKey = "prescreen-chat:" + config.trialId;
    var state = load();
    var ready = false;
    var online = false;
    var connectedOnce = false;
    var waiting = false;
    var waitTimer = null;
    var outbox = [];

    function load() {
      try {
        var saved = JSON.parse(STORE.getItem(storageKey));
        if (saved && Array.isArray(saved.messages)) {
          return saved;
        }
      } catch (error) {
        /* a damaged or unavailable store starts a new conversation */
      }
      return { sessionId: null, sessionToken: null, messages: [] };
    }

    function save() {
      try {
        STORE.setItem(storageKey, JSON.stringify(state));
      } catch (error) {
        /* private browsing without storage: the chat still works, without reloads */
      }
    }

    function setStatus(text, typing) {
      status.textContent = text;
      status.classList.toggle("is-typing", Boolean(typing));
    }

    function setWaiting(value) {
      waiting = value;
      window.clearTimeout(waitTimer);
      if (waiting) {
        setStatus(words.typing, true);
        waitTimer = window.setTimeout(function () {
          setStatus(words.no_answer, false);
        }, REPLY_TIMEOUT_MS);
      } else {
        setStatus(online ? "" : words.offline, false);
      }
    }

    function clearQuickReplies() {
      Array.prototype.forEach.call(log.querySelectorAll(".quick-replies"), function (group) {
        group.remove();
      });
    }

    function quickReplies(replies) {
      var group = document.createElement("div");
      group.className = "quick-replies";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", words.options_label);
      replies.forEach(function (reply) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "quick-reply";
        button.textContent = reply.title;
        button.addEventListener("click", function () {
          send(reply.payload, reply.title);
          input.focus();
        });
        group.appendChild(button);
      });
      return group;
    }

    function render(message, withReplies) {
      var item = document.createElement("div");
      item.className = "msg msg--" + message.from;
      var text = document.createElement("p");
      text.className = "msg__text";
      var who = document.createElement("span");
      who.className = "visually-hidden";
      who.textContent = (message.from === "user" ? words.you : words.assistant) + " ";
      text.appendChild(who);
      text.appendChild(document.createTextNode(message.text));
      item.appendChild(text);
      if (withReplies && message.quickReplies && message.quickReplies.length) {
        item.appendChild(quickReplies(message.quickReplies));
      }
      log.appendChild(item);
      log.scrollTop = log.scrollHeight;
    }

    function add(message) {
      state.messages.push(message);
      save();
      render(message, true);
    }

    function restore() {
      var lastUser = -1;
      state.messages.forEach(function (message, index) {
        if (message.from === "user") {
          lastUser = index;
        }
      });
      state.messages.forEach(function (message, index) {
        render(message, index > lastUser);
      });
    }

    function emit(text) {
      socket.emit("user_uttered", { message: text, session_id: state.sessionId });
    }

    /* Sends `text` to the bot; `shown` is what the patient sees as their message (none for the
       widget's own greeting). */
    function send(text, shown) {
      clearQuickReplies();
      if (shown) {
        add({ from: "user", text: shown });
      }
      setWaiting(true);
      if (ready) {
        emit(text);
      } else {
        outbox.push(text);
      }
    }

    var socket = window.io(config.socketUrl, { path: config.socketPath });

    socket.on("connect", function () {
      online = true;
      connectedOnce = true;
      socket.emit("session_request", {
        session_id: state.sessionId,
        session_token: state.sessionToken || null
      });
    });

    socket.on("session_confirm", function (confirmed) {
      var id = typeof confirmed === "string" ? confirmed : confirmed && confirmed.session_id;
      if (state.sessionId && id !== state.sessionId) {
        /* the server did not carry on the kept session: the transcript shown is not this one */
        state.messages = [];
        log.textContent = "";
      }
      state.sessionId = id;
      state.sessionToken = (confirmed && confirmed.session_token) || null;
      ready = true;
      save();
      setStatus(waiting ? words.typing : "", waiting);
      while (outbox.length) {
        emit(outbox.shift());
      }
      if (!state.messages.length && !waiting) {
        send(config.initPayload, null); /* a new conversation: the bot introduces the study */
      }
    });

    socket.on("bot_uttered", function (data) {
      var replies = (data && (data.quick_replies || data.buttons)) || [];
      var text = (data && data.text) || "";
      if (!text && !replies.length) {
        return;
      }
      setWaiting(false);
      add({
        from: "bot",
        text: text,
        quickReplies: replies.map(function (reply) {
          return { title: reply.title, payload: reply.payload };
        })
      });
    });

    socket.on("disconnect", function () {
      online = false;
      ready = false;
      setStatus(words.offline, false);
    });

    socket.on("connect_error", function () {
      online = false;
      setStatus(connectedOnce ? words.offline : words.connecting, false);
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text) {
        input.focus();
        return;
      }
      input.value = "";
      send(text, text);
      input.focus();
    });

    /* The bot asks before it sets the answers aside; "No" carries on, so nothing is wiped here. */
    restart.addEventListener("click", function () {
      send("/restart_screening", null);
      input.focus();
    });

    Array.prototype.forEach.call(document.querySelectorAll("[data-start-chat]"), function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        root.scrollIntoView({ block: "start" });
        input.focus();
      });
    });

    restore();
  }

  var root = document.querySelector("[data-chat]");
  if (root && window.io) {
    start(root);
  }
})();
