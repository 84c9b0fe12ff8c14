// Progressive enhancement for the server-rendered pages: live updates over Server-Sent Events,
// and a conversation that sends, edits, deletes and replies without reloading the page.
// Every action also works without this script, through the page's own forms and links.
"use strict";

// Where this browser remembers the id of its push subscription (see enhancePushSettings).
const PUSH_DEVICE = "confidant.push-subscription";

(function () {
  const main = document.getElementById("main");
  if (!main) return;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";

  localizeTimes(document);
  setInterval(() => localizeTimes(document), 30_000);

  const pushSettings = document.getElementById("push-settings");
  if (pushSettings) enhancePushSettings(pushSettings);

  const live = main.dataset.live;
  if (!live) return;
  const conversation = live === "conversation" ? Number(main.dataset.conversation) : null;
  const me = Number(main.dataset.me) || null;
  if (conversation) enhanceConversation();

  if (!window.EventSource) return;
  // Resume from where the server read this page, so nothing in between is missed.
  // This browser's push subscription, if it has one: while the stream is open, new messages
  // are not pushed to it as well.
  const device = Number(localStorage.getItem(PUSH_DEVICE)) || 0;
  const source = new EventSource(`/api/v1/events?last_event_id=${Number(main.dataset.feed) || 0}` +
    (device ? `&device=${device}` : ""));
  // Whether the stream is connected, for the page's own styling and for tests that wait
  // on it rather than on time.
  source.addEventListener("open", () => { main.dataset.stream = "open"; });
  source.addEventListener("error", () => { main.dataset.stream = "reconnecting"; });
  const refreshCounts = debounce(updateWaiting, 300);

  if (conversation) {
    const refreshSide = debounce(refreshParts.bind(null, ["conversation-title", "side"]), 300);
    const refreshReceipt = debounce(updateReceipt, 200);
    source.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.conversation_id !== conversation) return refreshCounts();
      receive(data.message);
      if (document.visibilityState === "visible") markRead(data.message.id);
      else refreshCounts();
      refreshReceipt();
    });
    source.addEventListener("message_changed", (event) => {
      const data = JSON.parse(event.data);
      if (data.conversation_id === conversation) changed(data.message);
    });
    source.addEventListener("read", (event) => {
      const data = JSON.parse(event.data);
      if (data.conversation_id !== conversation) return refreshCounts();
      if (data.member_id === me) refreshCounts();
      else refreshReceipt();
    });
    source.addEventListener("conversation", (event) => {
      if (JSON.parse(event.data).conversation_id === conversation) refreshSide();
      refreshCounts();
    });
    source.addEventListener("friends", refreshCounts);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState !== "visible") return;
      const newest = lastMessageId();
      if (newest) markRead(newest);
    });
  } else {
    const refresh = debounce(refreshMain, 300);
    for (const name of ["message", "message_changed", "conversation", "friends", "read"]) {
      source.addEventListener(name, refresh);
    }
  }

  // ---- The conversation --------------------------------------------------------------------

  function enhanceConversation() {
    const list = document.getElementById("messages");
    const form = document.getElementById("send");
    layout();
    const target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && list.contains(target)) {
      target.scrollIntoView({ block: "center" });
      target.classList.add("highlight");
    } else {
      scrollToEnd(true);
    }
    list.addEventListener("click", onListClick);
    list.addEventListener("submit", onListSubmit);
    // Delegated, so forms the page re-renders (the group's side panel) keep asking.
    document.addEventListener("submit", (event) => {
      const confirmed = event.target.closest("form[data-confirm]");
      if (confirmed && !window.confirm(confirmed.dataset.confirm)) event.preventDefault();
    });
    if (!form) return;
    const body = form.querySelector("textarea[name=body]");
    const reply = form.querySelector("input[name=reply_to]");
    if (reply) setReply(Number(reply.value), null);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send();
    });
    body.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.altKey &&
          !event.metaKey && !event.isComposing) {
        event.preventDefault();
        send();
      } else if (event.key === "Escape" && replyTo) {
        setReply(null, null);
      }
    });
    enhanceAttachments(form, body);
    form.querySelector("[data-cancel-reply]")?.addEventListener("click", (event) => {
      event.preventDefault();
      setReply(null, null);
      body.focus();
    });
    body.focus();
  }

  // The message the draft answers, if any.
  let replyTo = null;

  function setReply(id, item) {
    replyTo = id;
    const box = document.getElementById("replying");
    if (!box) return;
    box.replaceChildren();
    box.hidden = id === null;
    if (id === null) return;
    const source = item || document.getElementById(`m${id}`);
    const name = source?.querySelector(".sender bdi")?.textContent ?? "";
    const text = source?.querySelector(".body")?.textContent ?? "";
    const label = el("span", null, "Replying to ");
    label.append(el("bdi", null, name), ": ", el("span", "quote-body", text.slice(0, 200)));
    const cancel = el("a", "action", "Cancel reply");
    cancel.href = location.pathname;
    cancel.addEventListener("click", (event) => {
      event.preventDefault();
      setReply(null, null);
      document.getElementById("body")?.focus();
    });
    box.append(label, " ", cancel);
  }

  // ---- Attachments: picked, dropped or pasted, uploaded at once, sent with the draft ---------

  function enhanceAttachments(form, body) {
    const input = document.getElementById("attach-input");
    if (!input) return;
    document.getElementById("attach").hidden = false;
    // Files may go without words; send() itself ignores an empty draft.
    body.required = false;
    document.getElementById("attach-hint").hidden = false;
    input.addEventListener("change", () => {
      for (const file of input.files) upload(file);
      input.value = "";
    });
    body.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files || [])];
      if (!files.length) return;
      // Pasting a picture attaches it; text pasted along with it still goes in the box.
      if (!event.clipboardData.getData("text/plain")) event.preventDefault();
      for (const file of files) upload(file);
    });
    const zone = document.querySelector(".conversation");
    zone.addEventListener("dragover", (event) => {
      if (![...event.dataTransfer.types].includes("Files")) return;
      event.preventDefault();
      zone.classList.add("dropping");
    });
    zone.addEventListener("dragleave", (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("dropping");
    });
    zone.addEventListener("drop", (event) => {
      if (!event.dataTransfer.files.length) return;
      event.preventDefault();
      zone.classList.remove("dropping");
      for (const file of event.dataTransfer.files) upload(file);
      body.focus();
    });
  }

  // Uploads one file, shown in the draft as it goes: a chip that becomes ready (with the
  // server's answer in `chip.file`) or says why it failed.
  async function upload(file) {
    const list = document.getElementById("pending-files");
    list.hidden = false;
    const chip = el("li");
    const status = el("span", "file-size", "Uploading…");
    const remove = el("button", "link action", "Remove");
    remove.type = "button";
    remove.setAttribute("aria-label", `Remove ${file.name}`);
    remove.addEventListener("click", () => {
      chip.remove();
      list.hidden = !list.children.length;
    });
    chip.append(el("span", "file-name", file.name), status, remove);
    list.append(chip);
    clearError();
    let response;
    try {
      response = await fetch(`/api/v1/attachments?name=${encodeURIComponent(file.name)}`, {
        method: "POST",
        headers: { "X-CSRF-Token": csrf, "Content-Type": file.type || "application/octet-stream" },
        body: file,
        credentials: "same-origin",
      });
    } catch {
      response = null;
    }
    if (response && response.status === 201) {
      chip.file = await response.json();
      status.textContent = humanSize(chip.file.size);
      if (chip.file.thumbnail_url) {
        const preview = el("img");
        preview.src = chip.file.thumbnail_url;
        preview.alt = "";
        chip.prepend(preview);
      }
      say(`${file.name} is ready to send.`);
      return;
    }
    const error = response ? await response.json().catch(() => ({})) : {};
    status.textContent = error.message || "Could not upload.";
    status.classList.add("failed");
    status.setAttribute("role", "alert");
  }

  function humanSize(bytes) {
    if (bytes < 1000) return `${bytes} bytes`;
    const units = ["KB", "MB", "GB", "TB"];
    let value = bytes / 1000;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit += 1; }
    return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
  }

  // Sends the draft: shown at once as pending, then as sent, or failed with a retry. One
  // key per draft, kept across retries, so the server stores it once however often it is sent.
  function send() {
    const form = document.getElementById("send");
    const field = form.querySelector("textarea[name=body]");
    const text = field.value;
    const chips = [...document.querySelectorAll("#pending-files li")];
    if (chips.some((chip) => !chip.file && !chip.querySelector(".failed"))) {
      showError("Wait for your files to finish uploading.");
      return;
    }
    const files = chips.filter((chip) => chip.file).map((chip) => chip.file);
    if (!text.trim() && !files.length) return;
    const draft = { body: text, reply_to: replyTo, key: newKey(), attachments: files.map((file) => file.id) };
    const item = renderMessage({
      id: 0,
      sender: { id: me, display_name: myName() },
      body: text,
      created_at: Date.now(),
      reply_to: replyTo ? quoteOf(replyTo) : null,
      attachments: files,
    });
    for (const chip of chips) chip.remove();
    document.getElementById("pending-files").hidden = true;
    item.classList.add("pending");
    item.removeAttribute("id");
    item.dataset.message = "";
    item.append(el("span", "status", "Sending…"));
    document.getElementById("messages").append(item);
    field.value = "";
    setReply(null, null);
    clearError();
    layout();
    scrollToEnd(true);
    field.focus();
    deliver(item, draft);
  }

  async function deliver(item, draft) {
    setStatus(item, "Sending…", false);
    const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Idempotency-Key": draft.key };
    const payload = { body: draft.body };
    if (draft.reply_to) payload.reply_to = draft.reply_to;
    if (draft.attachments.length) payload.attachments = draft.attachments;
    let response;
    try {
      response = await fetch(`/api/v1/conversations/${conversation}/messages`, {
        method: "POST", headers, body: JSON.stringify(payload), credentials: "same-origin",
      });
    } catch {
      return failed(item, draft);
    }
    if (response.status === 201) {
      const message = await response.json();
      const already = document.getElementById(`m${message.id}`);
      if (already) item.remove();
      else item.replaceWith(renderMessage(message));
      layout();
      updateReceipt();
      return;
    }
    if (response.status >= 500 || response.status === 429) return failed(item, draft);
    // The server refused this draft: give it back, with the reason.
    const error = await response.json().catch(() => ({}));
    item.remove();
    const field = document.getElementById("body");
    if (field && !field.value) field.value = draft.body;
    if (draft.reply_to) setReply(draft.reply_to, null);
    showError(error.message || "This message could not be sent.");
    layout();
  }

  function failed(item, draft) {
    setStatus(item, "Not sent.", true);
    const retry = el("button", "link action", "Retry");
    retry.type = "button";
    retry.addEventListener("click", () => { retry.remove(); deliver(item, draft); });
    item.querySelector(".status").append(" ", retry);
  }

  function setStatus(item, text, failedNow) {
    const status = item.querySelector(".status");
    status.textContent = text;
    item.classList.toggle("failed", failedNow);
  }

  function showError(text) {
    clearError();
    const form = document.getElementById("send");
    const error = el("p", "error", text);
    error.id = "send-error";
    error.setAttribute("role", "alert");
    form.append(error);
  }

  function clearError() {
    document.getElementById("send-error")?.remove();
  }

  // A message that arrived over the stream.
  function receive(message) {
    if (document.getElementById(`m${message.id}`)) return;
    const mine = message.sender && message.sender.id === me;
    // My own message still being answered: the answer will put it in place.
    if (mine && [...document.querySelectorAll("#messages .pending")].some(
      (item) => item.querySelector(".body")?.textContent === message.body)) return;
    const list = document.getElementById("messages");
    const nearEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
    list.append(renderMessage(message));
    layout();
    if (!mine) announce(message);
    scrollToEnd(nearEnd || mine);
  }

  // A message that was edited or deleted.
  function changed(message) {
    const item = document.getElementById(`m${message.id}`);
    if (item) {
      const fresh = renderMessage(message);
      fresh.className = item.className;
      fresh.classList.toggle("deleted", !!message.deleted);
      item.replaceWith(fresh);
    }
    // Quotes of it follow.
    document.querySelectorAll(`#messages a.quote[href="#m${message.id}"]`).forEach((quote) => {
      quote.replaceWith(renderQuote({
        id: message.id, sender: message.sender, body: message.body, deleted: message.deleted,
      }));
    });
    layout();
  }

  function announce(message) {
    const name = message.sender ? message.sender.display_name : "deleted member";
    say(message.system ? systemText(message) : `${name}: ${message.body || "sent a file"}`);
  }

  function say(text) {
    const announcer = document.getElementById("announcer");
    if (announcer) announcer.textContent = text;
  }

  function onListClick(event) {
    const replyLink = event.target.closest("[data-reply]");
    if (replyLink) {
      event.preventDefault();
      setReply(Number(replyLink.dataset.reply), replyLink.closest(".message"));
      document.getElementById("body")?.focus();
      return;
    }
    const editLink = event.target.closest("[data-edit-message]");
    if (editLink) {
      event.preventDefault();
      startEdit(editLink.closest(".message"));
    }
  }

  async function onListSubmit(event) {
    const form = event.target;
    if (form.matches("[data-delete]")) {
      event.preventDefault();
      if (!window.confirm("Delete this message for everyone?")) return;
      const item = form.closest(".message");
      const response = await api("DELETE", `/api/v1/conversations/${conversation}/messages/${item.dataset.message}`);
      if (response && response.ok) {
        changed({ ...messageOf(item), body: "", deleted: true });
      }
    } else if (form.matches("[data-hide]")) {
      event.preventDefault();
      const item = form.closest(".message");
      const response = await api("POST", `/api/v1/conversations/${conversation}/messages/${item.dataset.message}/hide`);
      if (response && response.ok) { item.remove(); layout(); }
    }
  }

  function startEdit(item) {
    if (!item || item.querySelector("form.edit")) return;
    const body = item.querySelector(".body");
    const id = item.dataset.message;
    const form = el("form", "edit");
    const label = el("label", "visually-hidden", "Edit your message");
    label.htmlFor = `edit-${id}`;
    const field = el("textarea");
    field.id = `edit-${id}`;
    field.rows = 2;
    field.maxLength = 2048;
    field.required = true;
    field.value = body.textContent;
    const save = el("button", null, "Save");
    save.type = "submit";
    const cancel = el("button", "secondary", "Cancel");
    cancel.type = "button";
    form.append(label, field, save, " ", cancel);
    body.hidden = true;
    body.after(form);
    field.focus();
    const stop = () => { form.remove(); body.hidden = false; item.querySelector("[data-edit-message]")?.focus(); };
    cancel.addEventListener("click", stop);
    field.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); stop(); }
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      event.stopPropagation();
      if (!field.value.trim()) return;
      const response = await api("PATCH", `/api/v1/conversations/${conversation}/messages/${id}`, { body: field.value });
      if (response && response.ok) {
        changed(await response.json());
      } else {
        const error = response ? await response.json().catch(() => ({})) : {};
        form.querySelector(".error")?.remove();
        const message = el("p", "error", error.message || "The change could not be saved.");
        message.setAttribute("role", "alert");
        form.append(message);
      }
    });
  }

  // ---- Rendering, as the server renders ----------------------------------------------------

  function renderMessage(message) {
    if (message.system) {
      const line = el("li", "system");
      line.id = `m${message.id}`;
      line.dataset.message = message.id;
      line.dataset.at = message.created_at;
      line.append(el("span", null, systemText(message)), " ", renderTime(message.created_at));
      return line;
    }
    const mine = message.sender && message.sender.id === me;
    const item = el("li", "message");
    if (mine) item.classList.add("mine");
    if (!message.sender) item.classList.add("erased");
    if (message.deleted) item.classList.add("deleted");
    item.id = `m${message.id}`;
    item.dataset.message = message.id;
    item.dataset.at = message.created_at;
    const meta = el("span", "meta");
    const sender = el("span", "sender");
    // A name is isolated from the text around it, whatever direction it is written in.
    sender.append(el("bdi", null, message.sender ? message.sender.display_name : "deleted member"));
    if (message.via_app) sender.append(" ", el("span", "via", `via ${message.via_app.name}`));
    meta.append(sender, " ", renderTime(message.created_at));
    if (message.edited_at && !message.deleted) meta.append(" ", el("span", "edited", "(edited)"));
    item.append(meta);
    if (message.reply_to) item.append(renderQuote(message.reply_to));
    const body = el("p", "body");
    if (message.deleted) body.append(el("em", null, "message deleted"));
    else if (!message.sender) body.append(el("em", null, "message removed"));
    else body.textContent = message.body; // text, never HTML
    if (body.textContent) item.append(body);
    if (message.attachments?.length && !message.deleted) item.append(renderFiles(message.attachments));
    if (message.card && !message.deleted) item.append(renderCard(message.card, message.via_app));
    if (!message.deleted && message.sender && message.id) item.append(renderActions(message, mine));
    return item;
  }

  function renderFiles(files) {
    const list = el("ul", "files");
    for (const file of files) {
      const entry = el("li");
      const link = el("a", file.thumbnail_url ? "file-image" : "file");
      link.href = file.url;
      if (file.thumbnail_url) {
        link.target = "_blank";
        link.rel = "noopener";
        const image = el("img");
        const scale = Math.min(1, 320 / Math.max(file.width || 320, file.height || 320, 1));
        image.width = Math.max(1, Math.round((file.width || 320) * scale));
        image.height = Math.max(1, Math.round((file.height || 320) * scale));
        image.src = file.thumbnail_url;
        image.alt = file.name;
        image.loading = "lazy";
        link.append(image);
      } else {
        link.download = file.name;
        link.append(el("span", "file-name", file.name), " ", el("span", "file-size", humanSize(file.size)));
      }
      entry.append(link);
      list.append(entry);
    }
    return list;
  }

  function renderQuote(quote) {
    const link = el("a", "quote");
    link.href = `#m${quote.id}`;
    link.append(el("span", "quote-sender", quote.sender ? quote.sender.display_name : "deleted member"), " ");
    link.append(quote.deleted ? el("em", null, "message deleted") : el("span", "quote-body", quote.body));
    return link;
  }

  function renderCard(card, via) {
    const link = el("a", "rec-card");
    link.href = `${card.link}?i=web`; // always /r/{token} on this server
    link.rel = "noopener noreferrer";
    if (card.image) {
      const frame = el("span", "rec-image");
      const image = el("img");
      image.src = card.image; // served by this server, never the app's own address
      image.alt = "";
      image.loading = "lazy";
      frame.append(image);
      link.append(frame);
    }
    const text = el("span", "rec-text");
    const appName = via ? via.name : "";
    const app = el("span", "rec-app");
    const icon = el("span", "app-icon", (appName[0] || "?").toUpperCase());
    icon.setAttribute("aria-hidden", "true");
    app.append(icon, ` ${appName}`);
    text.append(app, el("strong", "rec-title", card.title));
    if (card.description) text.append(el("span", "rec-description", card.description));
    link.append(text);
    return link;
  }

  function renderActions(message, mine) {
    const actions = el("div", "message-actions");
    if (document.getElementById("send")) {
      const reply = el("a", "action", "Reply");
      reply.href = `/c/${conversation}?reply=${message.id}#send`;
      reply.dataset.reply = message.id;
      reply.setAttribute("aria-label", `Reply to ${message.sender.display_name}`);
      actions.append(reply);
    }
    if (mine) {
      if (!message.via_app) {
        const edit = el("a", "action", "Edit");
        edit.href = `/c/${conversation}?edit=${message.id}#m${message.id}`;
        edit.dataset.editMessage = message.id;
        actions.append(" ", edit);
      }
      actions.append(" ", actionForm(`/c/${conversation}/messages/${message.id}/delete`, "Delete", "delete"));
    } else if (message.via_app) {
      actions.append(" ", actionForm(`/c/${conversation}/messages/${message.id}/hide`, "Remove from my view", "hide"));
    }
    return actions;
  }

  function actionForm(action, label, kind) {
    const form = el("form", "inline");
    form.method = "post";
    form.action = action;
    form.dataset[kind] = "";
    const token = el("input");
    token.type = "hidden";
    token.name = "csrf";
    token.value = csrf;
    const button = el("button", "link action", label);
    button.type = "submit";
    form.append(token, button);
    return form;
  }

  function renderTime(ms) {
    const time = el("time");
    time.dateTime = new Date(ms).toISOString();
    localizeTime(time);
    return time;
  }

  function systemText(message) {
    const actor = message.sender ? message.sender.display_name : "A deleted member";
    const line = message.system;
    if (line.type === "added") return `${actor} added ${line.member ? line.member.display_name : "a deleted member"}`;
    if (line.type === "left") return `${actor} left`;
    if (line.type === "renamed") return `${actor} renamed the group to “${line.title}”`;
    return actor;
  }

  // Day headers and sender groups, in the reader's own time zone.
  function layout() {
    const list = document.getElementById("messages");
    if (!list) return;
    list.querySelectorAll("li.day").forEach((day) => day.remove());
    let previous = null;
    for (const item of [...list.children]) {
      const at = Number(item.dataset.at);
      if (!at) continue;
      const day = new Date(at).toDateString();
      if (!previous || new Date(Number(previous.dataset.at)).toDateString() !== day) {
        const header = el("li", "day");
        header.append(el("span", null, dayLabel(new Date(at))));
        item.before(header);
        item.classList.remove("continues");
      } else {
        const continues = item.classList.contains("message") && previous.classList.contains("message") &&
          !item.querySelector(".via") && !previous.querySelector(".via") &&
          senderOf(item) !== null && senderOf(item) === senderOf(previous) &&
          at - Number(previous.dataset.at) < 5 * 60_000;
        item.classList.toggle("continues", continues);
      }
      previous = item;
    }
  }

  function senderOf(item) {
    return item.classList.contains("erased") ? null : item.querySelector(".sender bdi")?.textContent ?? null;
  }

  function dayLabel(date) {
    const today = new Date();
    const yesterday = new Date(today);
    yesterday.setDate(today.getDate() - 1);
    if (date.toDateString() === today.toDateString()) return "Today";
    if (date.toDateString() === yesterday.toDateString()) return "Yesterday";
    const options = date.getFullYear() === today.getFullYear()
      ? { weekday: "long", day: "numeric", month: "long" }
      : { day: "numeric", month: "long", year: "numeric" };
    return date.toLocaleDateString(undefined, options);
  }

  // ---- Receipts, counts and refreshes ------------------------------------------------------

  // "Sent", then "Seen by …", under my newest message, as the server words it.
  async function updateReceipt() {
    const receipt = document.getElementById("receipt");
    if (!receipt) return;
    const response = await fetch(`/api/v1/conversations/${conversation}`, { credentials: "same-origin" });
    if (!response.ok) return;
    const detail = await response.json();
    const newest = detail.last_message;
    if (!newest || newest.system || !newest.sender || newest.sender.id !== me) {
      receipt.textContent = "";
      return;
    }
    const others = detail.participants.filter((p) => p.member.id !== me);
    const seen = others.filter((p) => p.last_read_message_id >= newest.id).map((p) => p.member.display_name);
    receipt.textContent = seen.length === 0 ? "Sent"
      : seen.length === others.length && others.length > 3 ? "Seen by everyone"
        : `Seen by ${seen.join(", ")}`;
  }

  // Unread messages and friend requests, in the navigation and the tab's title.
  async function updateWaiting() {
    const [conversations, friends] = await Promise.all([
      fetch("/api/v1/conversations", { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null)),
      fetch("/api/v1/friends", { credentials: "same-origin" }).then((r) => (r.ok ? r.json() : null)),
    ]).catch(() => [null, null]);
    if (conversations) {
      const unread = conversations.reduce((sum, c) => sum + c.unread, 0);
      setBadge("nav-unread", unread, ", unread: ");
      document.title = `${unread ? `(${unread}) ` : ""}${main.dataset.title} · Confidant`;
    }
    if (friends) setBadge("nav-requests", friends.incoming_requests.length, ", requests: ");
  }

  function setBadge(id, count, spoken) {
    const badge = document.getElementById(id);
    if (!badge) return;
    badge.replaceChildren(el("span", "visually-hidden", spoken), String(count));
    badge.hidden = count === 0;
  }

  function markRead(messageId) {
    api("POST", `/api/v1/conversations/${conversation}/read`, { message_id: messageId })
      .then(() => refreshCounts());
  }

  function api(method, path, body) {
    const init = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).catch(() => null);
  }

  // Replaces the elements with these ids by the server's current rendering of this page.
  async function refreshParts(ids) {
    const response = await fetch(location.pathname, { credentials: "same-origin" });
    if (!response.ok) return;
    const html = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of ids) {
      const mine = document.getElementById(id);
      const theirs = html.getElementById(id);
      if (mine && theirs && !mine.contains(document.activeElement)) mine.replaceWith(theirs);
    }
    localizeTimes(document);
    const title = html.getElementById("main")?.dataset.title;
    if (title) main.dataset.title = title;
    updateWaiting();
  }

  // Re-renders the server's view of this page in place (unread counts, lists), keeping
  // whatever is being typed.
  async function refreshMain() {
    const response = await fetch(location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const html = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = html.getElementById("main");
    if (!fresh) return;
    const typing = document.activeElement && document.activeElement.closest("form");
    if (typing) {
      // Only refresh parts that are not being edited.
      for (const id of ["conversations", "requests"]) {
        const mine = document.getElementById(id);
        const theirs = html.getElementById(id);
        if (mine && theirs) mine.replaceWith(theirs);
      }
    } else {
      main.innerHTML = fresh.innerHTML;
    }
    for (const id of ["nav-unread", "nav-requests"]) {
      const theirs = html.getElementById(id);
      if (theirs) document.getElementById(id)?.replaceWith(theirs);
    }
    document.title = html.title;
    localizeTimes(document);
  }

  // ---- Small helpers -----------------------------------------------------------------------

  function lastMessageId() {
    const items = document.querySelectorAll("#messages [data-message]");
    for (let i = items.length - 1; i >= 0; i--) {
      const id = Number(items[i].dataset.message);
      if (id) return id;
    }
    return null;
  }

  function quoteOf(id) {
    const item = document.getElementById(`m${id}`);
    return {
      id,
      sender: { display_name: item?.querySelector(".sender bdi")?.textContent ?? "" },
      body: (item?.querySelector(".body")?.textContent ?? "").slice(0, 200),
      deleted: false,
    };
  }

  function messageOf(item) {
    return {
      id: Number(item.dataset.message),
      created_at: Number(item.dataset.at),
      sender: { id: item.classList.contains("mine") ? me : -1, display_name: senderOf(item) ?? "" },
      body: item.querySelector(".body")?.textContent ?? "",
    };
  }

  function myName() {
    const mine = document.querySelector("#messages .message.mine .sender bdi");
    return mine ? mine.textContent : "You";
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  }

  function scrollToEnd(force) {
    const list = document.getElementById("messages");
    if (list && force) list.scrollTop = list.scrollHeight;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function debounce(fn, ms) {
    let timer = null;
    return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }
})();

// Times in the reader's own zone: "just now", "5 min ago", then the clock time, with the
// full date and time on hover. Outside the conversation (inbox, search) the date is kept.
// ---- Notifications: Web Push, turned on per browser in Settings ------------------------------

async function enhancePushSettings(box) {
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !window.Notification) return;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
  const status = document.getElementById("push-status");
  const showText = document.getElementById("push-text");
  const on = document.getElementById("push-on");
  const off = document.getElementById("push-off");
  document.getElementById("push-unsupported").hidden = true;
  box.hidden = false;
  const call = (method, path, body) => fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? { "X-CSRF-Token": csrf } : { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const key = await call("GET", "/api/v1/push/key").then((r) => r.json()).catch(() => null);
  if (!key || !key.enabled) {
    status.textContent = "This server does not send notifications.";
    on.disabled = true;
    return;
  }
  let registration;
  try {
    registration = await navigator.serviceWorker.register("/sw.js");
  } catch {
    status.textContent = "This browser cannot receive notifications from this site.";
    on.disabled = true;
    return;
  }
  // The server's record of this browser, if it has one.
  let mine = null;
  async function refresh() {
    const subscription = await registration.pushManager.getSubscription();
    const known = subscription
      ? await call("GET", "/api/v1/push/subscriptions").then((r) => r.json()).catch(() => [])
      : [];
    mine = subscription ? known.find((entry) => entry.endpoint === subscription.endpoint) ?? null : null;
    if (mine) localStorage.setItem(PUSH_DEVICE, String(mine.id));
    else localStorage.removeItem(PUSH_DEVICE);
    showText.checked = mine ? mine.show_text : showText.checked;
    on.hidden = Boolean(mine);
    off.hidden = !mine;
    status.textContent = mine
      ? "Notifications are on in this browser."
      : "Notifications are off in this browser.";
  }
  async function save(subscription) {
    const response = await call("POST", "/api/v1/push/subscriptions",
      { ...subscription.toJSON(), show_text: showText.checked });
    if (response.status !== 201) {
      const error = await response.json().catch(() => ({}));
      throw new Error(error.message || "Notifications could not be turned on.");
    }
  }
  on.addEventListener("click", async () => {
    on.disabled = true;
    try {
      if (await Notification.requestPermission() !== "granted") {
        throw new Error("This browser blocks notifications from this site; allow them in its site settings.");
      }
      const subscription = await registration.pushManager.getSubscription() ||
        await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: fromBase64Url(key.public_key),
        });
      await save(subscription);
      await refresh();
    } catch (error) {
      status.textContent = error.message || "Notifications could not be turned on.";
    } finally {
      on.disabled = false;
    }
  });
  off.addEventListener("click", async () => {
    off.disabled = true;
    if (mine) await call("DELETE", `/api/v1/push/subscriptions/${mine.id}`);
    const subscription = await registration.pushManager.getSubscription();
    await subscription?.unsubscribe().catch(() => {});
    off.disabled = false;
    await refresh();
  });
  showText.addEventListener("change", async () => {
    const subscription = await registration.pushManager.getSubscription();
    if (mine && subscription) await save(subscription).catch((error) => { status.textContent = error.message; });
  });
  await refresh();
}

function fromBase64Url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64 + "=".repeat((4 - base64.length % 4) % 4)), (c) => c.charCodeAt(0));
}

function localizeTimes(root) {
  root.querySelectorAll("time[datetime]").forEach(localizeTime);
}

function localizeTime(time) {
  const at = new Date(time.dateTime);
  if (Number.isNaN(at.getTime())) return;
  time.title = at.toLocaleString(undefined, {
    weekday: "long", day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit",
  });
  const ago = Date.now() - at.getTime();
  const clock = at.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  let text;
  if (ago >= 0 && ago < 60_000) text = "just now";
  else if (ago >= 0 && ago < 3_600_000) text = `${Math.floor(ago / 60_000)} min ago`;
  else if (time.closest("#messages")) text = clock;
  else if (at.toDateString() === new Date().toDateString()) text = clock;
  else text = at.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  time.textContent = text;
}
