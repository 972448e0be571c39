// The console's browser-side verifier (api/console/verify.js) against
// vectors the Rust code produced: SPEC.md §8's entry and leaf hash, and the
// evidence bundle kept in ledger/tests/vectors (a signed, witness-cosigned
// checkpoint, entries and their RFC 9162 inclusion proofs). Node's Web
// Crypto is the browser's API. Run by tools/tests/console.rs:
//
//   node verify.test.mjs
//
// Exit 0 and a last line "VERIFY PASS"; exit 1 naming the first failure.

import fs from "node:fs";
import assert from "node:assert/strict";
import {
  leafHash, hex, fromBase64, rootFromInclusionProof, tileIndexPath, bundlePath, parseBundle,
  parseNote, parseCheckpoint, parseVerifierKey, verifyNoteSignature, verifyCosignature,
} from "../console/verify.js";

const read = (p) => fs.readFileSync(new URL(p, import.meta.url), "utf8");
const enc = new TextEncoder();
const results = [];
async function check(name, f) {
  await f();
  results.push(name);
  console.log(`ok - ${name}`);
}

try {
  await check("SPEC §8: the worked example's leaf hash", async () => {
    const spec = read("../../SPEC.md");
    const entry = spec.split("\n").find((l) => l.startsWith('{"actor":{"department":"dept-market"') && l.includes('"prev":"0000'));
    assert.ok(entry, "the §8 entry is in SPEC.md");
    assert.equal(enc.encode(entry).length, 545);
    assert.equal(hex(await leafHash(enc.encode(entry))), "892e56b8efd987f59df93291d122ea49dd12ce56fa75f91e2220db9f2f999806");
  });

  await check("C2SP tlog-tiles paths and entry bundles", async () => {
    assert.equal(tileIndexPath(0), "000");
    assert.equal(tileIndexPath(5), "005");
    assert.equal(tileIndexPath(1000), "x001/000");
    assert.equal(tileIndexPath(1234067), "x001/x234/067");
    assert.equal(bundlePath(0, 300), "/tile/entries/000");
    assert.equal(bundlePath(1, 300), "/tile/entries/001.p/44");
    assert.equal(bundlePath(0, 256), "/tile/entries/000");
    const bytes = Uint8Array.of(0, 2, 0x61, 0x62, 0, 0, 0, 1, 0x63);
    assert.deepEqual(parseBundle(bytes).map((e) => Array.from(e)), [[0x61, 0x62], [], [0x63]]);
    assert.throws(() => parseBundle(Uint8Array.of(0, 5, 1)), /cut inside an entry/);
    assert.throws(() => parseBundle(Uint8Array.of(0)), /cut inside a length/);
  });

  const bundle = JSON.parse(read("../../ledger/tests/vectors/bundle-case.json"));
  const trust = JSON.parse(read("../../ledger/tests/vectors/bundle-case.trust.json"));
  const note = parseNote(bundle.checkpoint);
  const cp = parseCheckpoint(note.text);

  await check("the bundle's checkpoint verifies under the trusted ledger key, not after a change", async () => {
    const key = await parseVerifierKey(trust.ledger_key);
    assert.equal(cp.origin, key.name);
    assert.equal(await verifyNoteSignature(note, key), true);
    const altered = { ...note, text: note.text.replace(`\n${cp.size}\n`, `\n${cp.size + 1}\n`) };
    assert.equal(await verifyNoteSignature(altered, key), false);
    const witness = await parseVerifierKey(trust.witness_keys[0]);
    assert.equal(await verifyNoteSignature(note, witness), false, "a cosigning key is not a log key");
    await assert.rejects(parseVerifierKey(trust.ledger_key.replace(/\+([0-9a-f]{8})\+/, "+00000000+")), /key hash does not match/);
  });

  await check("the witness cosignature verifies (C2SP tlog-cosignature) and carries its time", async () => {
    const witness = await parseVerifierKey(trust.witness_keys[0]);
    const time = await verifyCosignature(note, witness);
    assert.ok(Number.isInteger(time) && time > 1_600_000_000, `time ${time}`);
    const altered = { ...note, text: note.text + "x\n" };
    assert.equal(await verifyCosignature(altered, witness), null);
    assert.equal(await verifyCosignature(note, await parseVerifierKey(trust.ledger_key)), null);
  });

  await check("every entry's inclusion proof leads to the checkpoint root; a changed byte does not", async () => {
    for (const section of ["registry", "events"]) {
      let prev = "0".repeat(64);
      for (const e of bundle[section]) {
        const entry = fromBase64(e.entry);
        const lines = e.proof.split("\n");
        const index = Number(lines.find((l) => l.startsWith("index ")).slice(6));
        assert.equal(index, e.log_index);
        const path = lines.slice(lines.indexOf(`index ${index}`) + 1, lines.indexOf("")).map(fromBase64);
        const leaf = await leafHash(entry);
        const root = await rootFromInclusionProof(index, cp.size, leaf, path);
        assert.ok(root && hex(root) === hex(cp.root), `${section} ${index} does not reach the root`);
        const tampered = entry.slice();
        tampered[tampered.length - 3] ^= 1;
        const bad = await rootFromInclusionProof(index, cp.size, await leafHash(tampered), path);
        assert.ok(!bad || hex(bad) !== hex(cp.root), `${section} ${index}: a changed byte still verified`);
        assert.equal(await rootFromInclusionProof(cp.size, cp.size, leaf, path), null, "an index outside the tree");
        // SPEC §6: the chain.
        const event = JSON.parse(new TextDecoder().decode(entry));
        assert.equal(event.prev, prev, `${section} ${index}: prev`);
        prev = hex(leaf);
      }
    }
  });

  await check("a proof with a hash too many or too few does not reach the root", async () => {
    const e = bundle.events.at(-1);
    const lines = e.proof.split("\n");
    const path = lines.slice(lines.indexOf(`index ${e.log_index}`) + 1, lines.indexOf("")).map(fromBase64);
    const leaf = await leafHash(fromBase64(e.entry));
    const short = await rootFromInclusionProof(e.log_index, cp.size, leaf, path.slice(0, -1));
    assert.ok(!short || hex(short) !== hex(cp.root));
    const long = await rootFromInclusionProof(e.log_index, cp.size, leaf, [...path, path[0]]);
    assert.ok(!long || hex(long) !== hex(cp.root));
  });

  console.log("VERIFY PASS");
} catch (e) {
  console.error(`FAIL after ${results.length} checks: ${e.message}`);
  process.exit(1);
}
