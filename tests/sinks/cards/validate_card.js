// Parse + validate Adaptive Cards with Microsoft's JS renderer in plain Node (no DOM).
// Usage: node validate_card.js <cards.json>   (a JSON array of AdaptiveCard objects)
// Prints a JSON array with one list of problems per card (parse events + validation events).
// `require("adaptivecards")` fails in Node (its lib/ ESM build imports extensionless paths),
// so the UMD bundle in dist/ is loaded instead.
"use strict";
const fs = require("fs");
const path = require("path");
const root = process.env.NODE_MODULES || path.resolve(__dirname, "../../../node_modules");
const AC = require(path.join(root, "adaptivecards/dist/adaptivecards.js"));

const cards = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = cards.map((content) => {
  const problems = [];
  try {
    const card = new AC.AdaptiveCard();
    const ctx = new AC.SerializationContext();
    card.parse(content, ctx);
    for (let i = 0; i < ctx.eventCount; i++) {
      const e = ctx.getEventAt(i);
      problems.push(`parse: ${e.message}`);
    }
    for (const e of card.validateProperties().validationEvents) {
      problems.push(`validate: ${e.message}`);
    }
  } catch (err) {
    problems.push(`exception: ${err && err.stack || err}`);
  }
  return problems;
});
process.stdout.write(JSON.stringify(out));
