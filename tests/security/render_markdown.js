// Renders each string of a JSON array (stdin) with markdown-it, the renderer the Adaptive Cards
// JS SDK delegates markdown to; prints a JSON array of HTML strings. argv[2] = "linkify" to turn
// on bare-URL autolinking (worst case), html is on so raw HTML would pass through if unescaped.
const MarkdownIt = require(process.cwd() + "/node_modules/markdown-it");
const md = new MarkdownIt({ html: true, linkify: process.argv[2] === "linkify" });
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((s) => md.render(s));
  process.stdout.write(JSON.stringify(out));
});
