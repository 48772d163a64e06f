// Runs inside Chromium (one execute_script per page): returns the main text as light markdown,
// the headings, the code blocks verbatim and every link. Kept in its own file so the Python side
// never builds JavaScript from strings.
//
// With no arguments it reads the page the browser has loaded. With (html, url) it reads that HTML
// parsed by Chromium's DOMParser, links resolved against url, without a page load: no scripts
// run and no stylesheet applies, so only the hidden attribute and inline styles hide an element.
// The crawler takes that path only on a site whose first page reads the same both ways.
const SOURCE = arguments.length > 0 ? arguments[0] : null;
const PARSED = typeof SOURCE === "string";
const doc = PARSED ? new DOMParser().parseFromString(SOURCE, "text/html") : document;
if (PARSED) {
  // A <base> of the page's own stays in force, resolved against the page URL as a load would.
  const own = doc.querySelector("base[href]");
  const base = doc.createElement("base");
  base.href = own ? new URL(own.getAttribute("href"), arguments[1]).href : arguments[1];
  if (own) own.remove();
  doc.head.prepend(base);
}
const NOISE = [
  "nav", "footer", "header", "aside", "script", "style", "noscript", "template", "svg", "form",
  "button", "iframe", "[role=navigation]", "[role=banner]", "[role=contentinfo]",
  "[role=complementary]", "[role=search]", "[aria-hidden=true]", ".sidebar", ".side-bar",
  ".navbar", ".nav", ".menu", ".breadcrumb", ".breadcrumbs", ".toc", ".footer", ".header",
  "#sidebar", "#toc", ".headerlink", ".skip-link", ".cookie-banner",
].join(",");
const BLOCK = new Set([
  "P", "DIV", "SECTION", "ARTICLE", "MAIN", "UL", "OL", "LI", "TABLE", "TR", "DL", "DT", "DD",
  "BLOCKQUOTE", "FIGURE", "FIGCAPTION", "DETAILS", "SUMMARY", "HR",
]);

function pickRoot() {
  const main = doc.querySelector("main, [role=main], article, #content, .content, .document");
  return main || doc.body;
}

const out = [];
const headings = [];
const codeBlocks = [];
let para = "";

function flush() {
  const text = para.replace(/[ \t\r\n]+/g, " ").trim();
  if (text) out.push(text);
  para = "";
}

function hidden(el) {
  // A parsed document has no computed style: its inline style and hidden attribute are all there is.
  const style = PARSED ? el.style : window.getComputedStyle(el);
  return (PARSED && el.hidden) || style.display === "none" || style.visibility === "hidden";
}

function codeLanguage(el) {
  const classes = (el.className || "") + " " + ((el.querySelector("code") || {}).className || "");
  const m = /(?:language|lang|highlight)-([A-Za-z0-9_+-]+)/.exec(classes);
  return m ? m[1] : "";
}

// Pandoc-style "{#id}" after a heading lets a chunk link to its own section.
function anchorSuffix(el) {
  let id = el.id;
  const parent = el.parentElement;
  if (!id && parent && parent.tagName === "SECTION" && parent.firstElementChild === el) id = parent.id;
  if (!id) {
    const a = el.querySelector("a[id], a[name]");
    if (a) id = a.id || a.getAttribute("name");
  }
  return id ? " {#" + id + "}" : "";
}

function walk(node) {
  if (node.nodeType === Node.TEXT_NODE) {
    para += node.nodeValue;
    return;
  }
  if (node.nodeType !== Node.ELEMENT_NODE) return;
  const el = node;
  if (el.matches(NOISE) || hidden(el)) return;
  const tag = el.tagName;
  if (tag === "PRE") {
    flush();
    // textContent, not innerText: code keeps its exact whitespace.
    const code = el.textContent.replace(/\n+$/, "");
    if (code.trim()) {
      codeBlocks.push(code);
      out.push("```" + codeLanguage(el) + "\n" + code + "\n```");
    }
    return;
  }
  const hm = /^H([1-6])$/.exec(tag);
  if (hm) {
    flush();
    const text = el.textContent.replace(/[¶#]\s*$/, "").replace(/\s+/g, " ").trim();
    if (text) {
      headings.push(text);
      out.push("#".repeat(Number(hm[1])) + " " + text + anchorSuffix(el));
    }
    return;
  }
  if (tag === "BR") {
    flush();
    return;
  }
  if (tag === "CODE" || tag === "KBD" || tag === "SAMP" || tag === "TT") {
    para += "`" + el.textContent + "`";
    return;
  }
  const block = BLOCK.has(tag);
  if (block) flush();
  if (tag === "LI") para += "- ";
  for (const child of el.childNodes) walk(child);
  if (block) flush();
}

walk(pickRoot());
flush();

const links = [];
for (const a of doc.querySelectorAll("a[href]")) {
  if (a.href) links.push(a.href);
}
let status = 0;  // a parsed page's status is the crawler's own request's
if (!PARSED) {
  try {
    const nav = performance.getEntriesByType("navigation")[0];
    status = nav && nav.responseStatus ? nav.responseStatus : 0;
  } catch (e) {
    status = 0;
  }
}
return {
  url: PARSED ? arguments[1] : document.location.href,
  title: doc.title || "",
  contentType: PARSED ? "" : document.contentType || "",
  status: status,
  text: out.join("\n\n"),
  headings: headings,
  codeBlocks: codeBlocks,
  links: links,
};
