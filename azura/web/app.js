// The web chat: ask questions, analyse pasted logs, show the PR-comment markdown. No dependencies.
// Markdown from the server may quote logs and model answers, so the renderer escapes every piece of text
// before it adds its own few tags; no HTML from a response is ever inserted as HTML.
"use strict";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

function renderInline(text) {
  const out = [];
  const code = /(`+)([\s\S]*?[^`])\1(?!`)/g;
  let last = 0;
  for (let m = code.exec(text); m; m = code.exec(text)) {
    out.push(formatText(text.slice(last, m.index)), `<code>${escapeHtml(m[2].trim())}</code>`);
    last = m.index + m[0].length;
  }
  out.push(formatText(text.slice(last)));
  return out.join("");
}

// Backslash escapes (\[, \*, ...) stand for the plain character; they are set aside so emphasis and links skip them.
const ESCAPED = /\\([\\`*_{}\[\]()#+\-.!|<>~])/g;

function formatText(raw) {
  const kept = [];
  const marked = raw.replace(/\u0000/g, "").replace(ESCAPED, (_, c) => `\u0000${kept.push(c) - 1}\u0000`);
  return escapeHtml(marked)
    .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>')
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[\s(])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
    .replace(/(^|[\s(])_([^_\s][^_]*)_(?=[\s).,;:!?]|$)/g, "$1<em>$2</em>")
    .replace(/\u0000(\d+)\u0000/g, (_, i) => escapeHtml(kept[Number(i)]));
}

const BLOCK_START = /^\s*(`{3,}|~{3,}|#{1,6}\s|>|[-*+]\s|\d+[.)]\s|\|)|^\s*<\/?(details|summary)>/i;

function renderMarkdown(markdown) {
  const lines = markdown.replace(/<!--[\s\S]*?-->/g, "").split(/\r?\n/);
  const html = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if ((m = /^\s*(`{3,}|~{3,})/.exec(line))) {
      const fence = m[1];
      const body = [];
      i += 1;
      while (i < lines.length && !(lines[i].trim().startsWith(fence) && lines[i].trim().replace(/[`~]/g, "") === "")) {
        body.push(lines[i]);
        i += 1;
      }
      html.push(`<pre><code>${escapeHtml(body.join("\n"))}</code></pre>`);
      i += 1;
    } else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
      const level = Math.min(m[1].length + 2, 6);  // page headings stay above answer headings
      html.push(`<h${level}>${renderInline(m[2])}</h${level}>`);
      i += 1;
    } else if (/^\s*<details>\s*$/i.test(line) || /^\s*<\/details>\s*$/i.test(line)) {
      html.push(/\//.test(line) ? "</details>" : "<details>");
      i += 1;
    } else if ((m = /^\s*<summary>(.*)<\/summary>\s*$/i.exec(line))) {
      html.push(`<summary>${renderInline(m[1].replace(/<\/?(b|strong)>/gi, ""))}</summary>`);
      i += 1;
    } else if (/^\s*\|/.test(line) && i + 1 < lines.length && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1])) {
      const rows = [];
      while (i < lines.length && /^\s*\|/.test(lines[i])) {
        rows.push(lines[i]);
        i += 1;
      }
      html.push(renderTable(rows));
    } else if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d/.test(line);
      const items = [];
      while (i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i])) {
        items.push(`<li>${renderInline(lines[i].replace(/^\s*([-*+]|\d+[.)])\s+/, ""))}</li>`);
        i += 1;
      }
      html.push(ordered ? `<ol>${items.join("")}</ol>` : `<ul>${items.join("")}</ul>`);
    } else if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) {
        quoted.push(lines[i].replace(/^\s*>\s?/, ""));
        i += 1;
      }
      html.push(`<blockquote>${renderMarkdown(quoted.join("\n"))}</blockquote>`);
    } else if (/^\s*(-{3,}|\*{3,}|_{3,})\s*$/.test(line)) {
      html.push("<hr>");
      i += 1;
    } else if (line.trim() === "") {
      i += 1;
    } else {
      const paragraph = [];
      while (i < lines.length && lines[i].trim() !== "" && !(paragraph.length && BLOCK_START.test(lines[i]))) {
        paragraph.push(lines[i]);
        i += 1;
      }
      // A line ending in a backslash is a hard break in markdown; every line break is kept as one here.
      html.push(`<p>${paragraph.map((l) => renderInline(l.replace(/\\$/, ""))).join("<br>")}</p>`);
    }
  }
  return html.join("\n");
}

function renderTable(rows) {
  const cells = (row) => row.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
  const head = cells(rows[0]).map((c) => `<th>${renderInline(c)}</th>`).join("");
  const body = rows.slice(2).map((r) => `<tr>${cells(r).map((c) => `<td>${renderInline(c)}</td>`).join("")}</tr>`);
  return `<table><thead><tr>${head}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

// ---------------------------------------------------------------- talking to the server

const state = { conversationId: null, askOff: false, example: null, result: null };
const $ = (id) => document.getElementById(id);
const JOB_POLL_MS = 500;
const JOB_DEADLINE_MS = 10 * 60 * 1000;

class ApiError extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const key = sessionStorage.getItem("azura-api-key");
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) $("key-form").hidden = false;
  if (!response.ok) throw new ApiError((body && body.error) || `the server answered ${response.status}`);
  return body;
}

function addMessage(role, build) {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  build(item);
  $("conversation").appendChild(item);
  item.scrollIntoView({ block: "start" });  // an answer is read from its first line
  return item;
}

function safeLink(url, text) {
  const link = document.createElement("a");
  if (/^https?:\/\//i.test(url || "")) link.href = url;
  link.rel = "noopener noreferrer";
  link.target = "_blank";
  link.textContent = text;
  return link;
}

function showAnswer(answer) {
  addMessage("assistant", (item) => {
    const text = document.createElement("div");
    text.className = "markdown answer";
    text.innerHTML = renderMarkdown(answer.answer || "");
    item.appendChild(text);
    const unlinked = (answer.builds || []).filter((build) => !(answer.answer || "").includes(build.url));
    if (unlinked.length) {
      const list = document.createElement("ul");
      list.className = "builds";
      for (const build of unlinked) {
        const entry = document.createElement("li");
        entry.appendChild(safeLink(build.url, `${build.definition || "build"} ${build.number}`));
        entry.append(` — ${build.result || "running"}`);
        list.appendChild(entry);
      }
      item.appendChild(list);
    }
    if (answer.analysis_markdown) {
      const report = document.createElement("div");
      report.className = "markdown report";
      report.innerHTML = renderMarkdown(answer.analysis_markdown);
      item.appendChild(report);
    }
  });
}

async function askQuestion(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  addMessage("user", (item) => { item.textContent = question; });
  $("question").value = "";
  $("ask").disabled = true;
  const thinking = addMessage("assistant pending", (item) => { item.textContent = "Thinking…"; });
  try {
    const body = { message: question };
    if (state.conversationId) body.conversation_id = state.conversationId;
    const answer = await api("/api/chat", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    state.conversationId = answer.conversation_id;
    thinking.remove();
    showAnswer(answer);
  } catch (error) {
    thinking.remove();
    addMessage("assistant error", (item) => { item.textContent = error.message; });
  } finally {
    $("ask").disabled = state.askOff;
    $("question").focus();
  }
}

function setProgress(fraction, message) {
  $("progress").hidden = false;
  $("progress-bar").value = fraction;
  $("progress-text").textContent = message;
}

async function waitForJob(url) {
  const deadline = Date.now() + JOB_DEADLINE_MS;
  while (Date.now() < deadline) {
    const job = await api(url);
    setProgress(job.progress, job.message);
    if (job.status === "done") return job.result;
    if (job.status === "failed") throw new ApiError(job.error || "the analysis failed");
    await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
  }
  throw new ApiError("the analysis is taking too long; try again later");
}

// A bundled example is sent with its name, so the analysis names it instead of "pasted log".
function analyseRequest(log) {
  const example = state.example;
  if (example && example.log === log) {
    return { headers: { "Content-Type": "application/json" }, body: JSON.stringify({ log, name: example.name }) };
  }
  return { headers: { "Content-Type": "text/plain; charset=utf-8" }, body: log };
}

async function analyseLog(event) {
  event.preventDefault();
  const log = $("log").value;
  if (!log.trim()) return;
  $("analyse").disabled = true;
  $("analysis").textContent = "";
  $("result-actions").hidden = true;
  setProgress(0, "queued");
  try {
    const job = await api("/api/analyze/async", Object.assign({ method: "POST" }, analyseRequest(log)));
    const result = await waitForJob(job.url);
    state.result = { markdown: result.markdown, json: JSON.stringify(result.analysis, null, 2) + "\n",
                     name: fileName(state.example && state.example.log === log ? state.example.name : "analysis") };
    $("analysis").innerHTML = renderMarkdown(result.markdown);
    $("result-actions").hidden = false;
    $("action-status").textContent = "";
    setProgress(1, result.analysis.headline);
  } catch (error) {
    $("progress").hidden = true;
    $("analysis").textContent = error.message;
  } finally {
    $("analyse").disabled = false;
  }
}

const fileName = (name) => `azura-${name.replace(/[^A-Za-z0-9._-]+/g, "-")}`;

// The clipboard API needs a secure context (https or this machine) and a focused page; without them the
// text of a selected, invisible textarea is copied the older way.
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch (error) { /* fall through to the older way */ }
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("the browser refused to copy");
}

function download(text, name, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function resultAction(kind) {
  return async () => {
    const result = state.result;
    if (!result) return;
    const markdown = kind.endsWith("markdown");
    const text = markdown ? result.markdown : result.json;
    try {
      if (kind.startsWith("copy")) {
        await copyText(text);
        $("action-status").textContent = `Copied the ${markdown ? "Markdown" : "JSON"}.`;
      } else {
        download(text, `${result.name}.${markdown ? "md" : "json"}`,
                 markdown ? "text/markdown;charset=utf-8" : "application/json");
        $("action-status").textContent = `Downloaded ${result.name}.${markdown ? "md" : "json"}.`;
      }
    } catch (error) {
      $("action-status").textContent = `Could not ${kind.split("-")[0]}: ${error.message}`;
    }
  };
}

async function loadExamples() {
  const { examples } = await api("/api/examples");
  const select = $("examples");
  for (const example of examples) {
    const option = document.createElement("option");
    option.value = example.name;
    option.textContent = example.name;
    select.appendChild(option);
  }
  select.addEventListener("change", () => {
    const chosen = examples.find((e) => e.name === select.value);
    state.example = chosen || null;
    if (chosen) $("log").value = chosen.log;
  });
}

async function showHealth() {
  const health = await api("/health");
  const devops = health.azure_devops;
  const llm = health.provider === "none" ? "offline analysis (no LLM)" : `${health.provider} ${health.model || ""}`;
  const ado = !devops.configured ? "Azure DevOps not configured" : devops.reachable ? "Azure DevOps reachable"
    : "Azure DevOps unreachable";
  $("health").textContent = `v${health.version} · ${llm} · ${ado}`;
  $("health").classList.toggle("bad", devops.configured && !devops.reachable);
  setAskOff(devops.configured ? "" : "Ask is off: this server has no Azure DevOps organisation "
    + "(start it with AZURE_DEVOPS_ORG_URL and AZURE_DEVOPS_PAT set).");
}

function setAskOff(reason) {
  state.askOff = Boolean(reason);
  for (const id of ["question", "ask"]) $(id).disabled = state.askOff;
  $("ask").classList.toggle("off", state.askOff);
  $("ask-off").textContent = reason;
  $("ask-off").hidden = !state.askOff;
}

function useKey(event) {
  event.preventDefault();
  sessionStorage.setItem("azura-api-key", $("api-key").value.trim());
  $("key-form").hidden = true;
  start();
}

function start() {
  showHealth().catch((error) => { $("health").textContent = error.message; $("health").classList.add("bad"); });
  loadExamples().catch(() => {});
}

if (typeof document !== "undefined") {
  document.addEventListener("DOMContentLoaded", () => {
    $("chat-form").addEventListener("submit", askQuestion);
    $("analyse-form").addEventListener("submit", analyseLog);
    $("key-form").addEventListener("submit", useKey);
    for (const kind of ["copy-markdown", "copy-json", "download-markdown", "download-json"]) {
      $(kind).addEventListener("click", resultAction(kind));
    }
    start();
  });
}

if (typeof module !== "undefined") module.exports = { renderMarkdown, escapeHtml };
