// Live updates over Server-Sent Events. Everything else on these pages works without it.
"use strict";

(function () {
  const main = document.getElementById("main");
  const live = main && main.dataset.live;
  if (!live || !window.EventSource) return;

  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  // Resume from where the server read this page, so nothing in between is missed.
  const source = new EventSource(`/api/v1/events?last_event_id=${Number(main.dataset.feed) || 0}`);
  const refresh = debounce(() => refreshMain(), 300);
  // Whether the stream is connected, for the page's own styling and for tests that wait
  // on it rather than on time.
  source.addEventListener("open", () => { main.dataset.stream = "open"; });
  source.addEventListener("error", () => { main.dataset.stream = "reconnecting"; });

  // Messages that arrived live, newest last. A refresh may replace the list with a view
  // the server rendered before some of them were sent; they are put back after it.
  const arrived = new Map();

  if (live === "conversation") {
    const conversation = Number(main.dataset.conversation);
    const me = Number(main.dataset.me);
    scrollToEnd();
    source.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.conversation_id !== conversation) return;
      const message = data.message;
      arrived.set(message.id, message);
      showArrived(me);
      if (document.visibilityState === "visible") markRead(conversation, message.id);
    });
    source.addEventListener("read", (event) => {
      const data = JSON.parse(event.data);
      if (data.conversation_id === conversation && data.member_id !== me) refresh();
    });
    source.addEventListener("conversation", (event) => {
      if (JSON.parse(event.data).conversation_id === conversation) refresh();
    });
  } else {
    for (const name of ["message", "conversation", "friends", "read"]) {
      source.addEventListener(name, refresh);
    }
  }

  // The list is looked up each time: a refresh replaces it.
  function showArrived(me) {
    const list = document.getElementById("messages");
    if (!list) return;
    for (const [id, message] of arrived) {
      const item = list.querySelector(`[data-message="${id}"]`);
      if (!item) {
        list.appendChild(renderMessage(message, me));
      } else if (!("live" in item.dataset)) {
        arrived.delete(id); // the server's own view has it now
      }
    }
    scrollToEnd();
  }

  function scrollToEnd() {
    const list = document.getElementById("messages");
    if (list) list.scrollTop = list.scrollHeight;
  }

  function renderMessage(message, me) {
    const item = document.createElement("li");
    item.className = "message";
    if (message.sender && message.sender.id === me) item.classList.add("mine");
    item.dataset.message = message.id;
    item.dataset.live = "";
    const sender = document.createElement("span");
    sender.className = "sender";
    // A name is isolated from the text around it, whatever direction it is written in.
    const name = document.createElement("bdi");
    name.textContent = message.sender ? message.sender.display_name : "deleted member";
    sender.append(name);
    if (message.via_app) {
      const via = document.createElement("span");
      via.className = "via";
      via.textContent = ` via ${message.via_app.name}`;
      sender.append(via);
    }
    const time = document.createElement("time");
    const at = new Date(message.created_at);
    time.dateTime = at.toISOString();
    time.textContent = at.toISOString().slice(0, 16).replace("T", " ") + " UTC";
    const body = document.createElement("p");
    body.className = "body";
    body.textContent = message.body; // text, never HTML
    item.append(sender, time, body);
    if (message.card) item.append(renderCard(message.card));
    return item;
  }

  function renderCard(card) {
    const link = document.createElement("a");
    link.className = "rec-card";
    link.href = `${card.link}?i=web`; // always /r/{token} on this server
    link.rel = "noopener noreferrer";
    const title = document.createElement("strong");
    title.textContent = card.title;
    link.append(title);
    if (card.description) {
      const text = document.createElement("span");
      text.textContent = card.description;
      link.append(text);
    }
    const host = document.createElement("span");
    host.className = "muted";
    host.textContent = new URL(card.url).host;
    link.append(host);
    return link;
  }

  function markRead(conversation, messageId) {
    fetch(`/api/v1/conversations/${conversation}/read`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ message_id: messageId }),
      credentials: "same-origin",
    }).catch(() => {});
  }

  // Re-render the server's view of this page in place (unread counts, receipts, lists),
  // keeping whatever is being typed.
  async function refreshMain() {
    const response = await fetch(location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const html = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = html.getElementById("main");
    if (!fresh) return;
    const typing = document.activeElement && document.activeElement.closest("form");
    if (typing) {
      // Only refresh parts that are not being edited.
      for (const id of ["messages", "receipt", "conversations"]) {
        const mine = document.getElementById(id);
        const theirs = html.getElementById(id);
        if (mine && theirs) mine.replaceWith(theirs);
      }
    } else {
      main.innerHTML = fresh.innerHTML;
    }
    if (live === "conversation") showArrived(Number(main.dataset.me));
    else scrollToEnd();
  }

  function debounce(fn, ms) {
    let timer = null;
    return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }
})();
