// The console's browser-side verifier (api/console/verify.js) against
// vectors the Rust code produced: SPEC.md §8's entry, signed message,
// signature and leaf hash, and the evidence bundle kept in
// ledger/tests/vectors (a signed, witness-cosigned checkpoint, entries and
// their RFC 9162 inclusion proofs, a registry with two department keys, one
// revoked after it signed, and events signed by both); and the choice of the
// checkpoint to verify against, on notes signed here. Node's Web Crypto is
// the browser's API. Run by tools/tests/console.rs:
//
//   node verify.test.mjs
//
// Exit 0 and a last line "VERIFY PASS"; exit 1 naming the first failure.

import fs from "node:fs";
import assert from "node:assert/strict";
import {
  leafHash, hex, fromBase64, rootFromInclusionProof, tileIndexPath, bundlePath, parseBundle,
  parseNote, parseCheckpoint, parseVerifierKey, verifyNoteSignature, verifyCosignature,
  jcs, parseEntry, signingMessage, keyIdOf, timeKey, KeyRegistry, verifyAuthor, verifyAuthors,
  chooseCheckpoint, witnessCosignatures,
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

  await check("RFC 8785: entries are canonical; other spellings of the same JSON are not", async () => {
    for (const section of ["registry", "events"]) {
      for (const e of bundle[section]) {
        const event = parseEntry(fromBase64(e.entry));
        assert.ok(event, `${section} ${e.log_index} is not canonical here`);
        assert.deepEqual(event, e.event);
      }
    }
    const spec = read("../../SPEC.md");
    const entry = spec.split("\n").find((l) => l.startsWith('{"actor":{"department":"dept-market"') && l.includes('"prev":"0000'));
    assert.ok(parseEntry(enc.encode(entry)), "SPEC §8's entry");
    // Members sorted by UTF-16 code units (RFC 8785 §3.2.3's example), numbers as ECMAScript writes them.
    assert.equal(
      jcs({ "\u20ac": 1, "\r": 2, "\ud83d\ude00": 3, 1: 4, "\u0080": 5, "\u00f6": 6, "\ufb33": 7 }),
      '{"\\r":2,"1":4,"\u0080":5,"\u00f6":6,"\u20ac":1,"\ud83d\ude00":3,"\ufb33":7}',
    );
    assert.equal(jcs([1e21, 1e-7, -0, 0.1, 333333333.33333329, 4.5, "\u0007\"/"]), '[1e+21,1e-7,0,0.1,333333333.3333333,4.5,"\\u0007\\"/"]');
    const canonical = '{"a":[1,{"b":"é"}],"c":null}';
    assert.ok(parseEntry(enc.encode(canonical)));
    for (const other of [
      '{"c":null,"a":[1,{"b":"é"}]}',
      '{"a":[1,{"b":"é"}], "c":null}',
      '{"a":[1,{"b":"\\u00e9"}],"c":null}',
      '{"a":[1.0,{"b":"é"}],"c":null}',
      '{"a":[1,{"b":"é"}],"c":null,"c":null}',
      '\ufeff{"a":[1,{"b":"é"}],"c":null}',
      '{"n":9007199254740993}',
      "[1]",
    ]) {
      assert.equal(parseEntry(enc.encode(other)), null, other);
    }
    assert.equal(parseEntry(Uint8Array.of(0x7b, 0xff, 0x7d)), null, "not UTF-8");
  });

  await check("SPEC §8: the signed message, the key id and the signature", async () => {
    const spec = read("../../SPEC.md");
    const lines = spec.split("\n");
    const at = lines.indexOf("ledger-event-signature/v1");
    const message = `${lines[at]}\n${lines[at + 1]}`;
    const entry = lines.find((l) => l.startsWith('{"actor":{"department":"dept-market"') && l.includes('"prev":"0000'));
    const event = parseEntry(enc.encode(entry));
    assert.equal(new TextDecoder().decode(signingMessage(event)), message);
    const publicKey = fromBase64("0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc=");
    assert.equal(await keyIdOf("ed25519", publicKey), "ed25519:10ba682c8ad13513");
    assert.equal(event.signature.key, "ed25519:10ba682c8ad13513");
    const registry = new KeyRegistry();
    await registry.apply({
      type: "key.registered",
      recorded_at: "2026-11-01T00:00:00.000000Z",
      payload: { key: event.signature.key, alg: "ed25519", public_key: "0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc=", department: "dept-market" },
    });
    assert.deepEqual(await verifyAuthor(registry, event), { status: "valid", key: "ed25519:10ba682c8ad13513" });
    const sig = fromBase64(event.signature.sig);
    sig[10] ^= 0x01;
    const altered = { ...event, signature: { ...event.signature, sig: Buffer.from(sig).toString("base64") } };
    assert.equal((await verifyAuthor(registry, altered)).status, "fail_sig_invalid");
    const otherPayload = { ...event, payload: { ...event.payload, materials: 4 } };
    assert.equal((await verifyAuthor(registry, otherPayload)).status, "fail_sig_invalid");
    // The members the ledger adds are not signed: another recorded_at still verifies.
    assert.equal((await verifyAuthor(registry, { ...event, recorded_at: "2026-11-26T10:00:00.000000Z" })).status, "valid");
    assert.equal((await verifyAuthor(registry, { ...event, signature: undefined })).status, "unsigned");
  });

  await check("RFC 3339 times compare to the microsecond", async () => {
    assert.ok(timeKey("2026-11-27T10:40:34.68Z") < timeKey("2026-11-27T10:40:34.680246Z"));
    assert.ok(timeKey("2026-11-27T10:40:34Z") < timeKey("2026-11-27T10:40:34.000001Z"));
    assert.equal(timeKey("2026-11-27T10:40:34.5Z"), timeKey("2026-11-27T10:40:34.500000Z"));
    for (const bad of ["2026-11-27 10:40:34Z", "2026-11-27T10:40:34+08:00", "2026-11-27t10:40:34z", "", null]) {
      assert.equal(timeKey(bad), null, String(bad));
    }
  });

  // The bundle's registry and events, parsed from their entry bytes.
  const parsed = (section) => bundle[section].map((e) => ({ log_index: e.log_index, event: parseEntry(fromBase64(e.entry)) }));
  const registry = parsed("registry");
  const events = parsed("events");
  const statuses = async (reg, evs) => (await verifyAuthors(reg, evs)).results.map((r) => r.status);

  await check("authors' signatures: every step of the bundle verifies under the registry before it", async () => {
    const { results, broken } = await verifyAuthors(registry, events);
    assert.equal(broken, null);
    assert.deepEqual(results.map((r) => r.status), events.map(() => "valid"));
    // The key revoked at index 18 had signed the step at index 17, before it.
    const revoked = bundle.keys.find((k) => k.revoked_at_index !== null);
    const signedByIt = events.filter((e) => e.event.signature.key === revoked.key);
    assert.ok(signedByIt.length > 0 && signedByIt.every((e) => e.log_index < revoked.revoked_at_index));
  });

  await check("authors' signatures: refused when the key was revoked before, unknown, another department's, not yet valid, or the signature altered", async () => {
    const revocation = registry.find((r) => r.event.type === "key.revoked");
    const revokedKey = revocation.event.payload.key;
    const victim = events.findIndex((e) => e.event.signature.key === revokedKey);
    // The same revocation, in the log just before the step it followed.
    const early = registry.map((r) => (r === revocation ? { ...r, log_index: events[victim].log_index - 1 } : r));
    early.sort((a, b) => a.log_index - b.log_index);
    const afterRevocation = await statuses(early, events);
    assert.equal(afterRevocation[victim], "fail_sig_revoked");
    assert.deepEqual(afterRevocation.filter((_, i) => i !== victim), events.slice(1).map(() => "valid"));
    // No registration of that key before the step: unknown.
    const registration = registry.find((r) => r.event.type === "key.registered" && r.event.payload.key === revokedKey);
    const withoutIt = registry.filter((r) => r.log_index < registration.log_index);
    assert.equal((await statuses(withoutIt, events))[victim], "fail_sig_unknown_key");
    // Another department, a time before the key's valid_from, one bit of the signature.
    const first = events[0].event;
    const keys = new KeyRegistry();
    for (const r of registry.filter((r) => r.log_index < events[0].log_index)) await keys.apply(r.event);
    assert.equal((await verifyAuthor(keys, first)).status, "valid");
    const otherDept = { ...first, actor: { ...first.actor, department: "dept-tax" } };
    assert.equal((await verifyAuthor(keys, otherDept)).status, "fail_sig_department");
    const validFrom = keys.keys.get(first.signature.key).validFrom;
    assert.equal((await verifyAuthor(keys, { ...first, recorded_at: "2020-01-01T00:00:00.000000Z" })).status, "fail_sig_not_yet_valid");
    assert.equal((await verifyAuthor(keys, { ...first, recorded_at: validFrom })).status, "valid", "valid from its valid_from on");
    const sig = fromBase64(first.signature.sig);
    sig[63] ^= 0x80;
    const flipped = { ...first, signature: { ...first.signature, sig: Buffer.from(sig).toString("base64") } };
    assert.equal((await verifyAuthor(keys, flipped)).status, "fail_sig_invalid");
    const short = { ...first, signature: { ...first.signature, sig: first.signature.sig.slice(0, 40) } };
    assert.equal((await verifyAuthor(keys, short)).status, "fail_sig_invalid");
    const sm2 = { ...first, signature: { ...first.signature, alg: "sm2" } };
    assert.equal((await verifyAuthor(keys, sm2)).status, "fail_sig_alg");
  });

  await check("a registry that is not a valid key history judges no signature", async () => {
    const registration = registry.find((r) => r.event.type === "key.registered");
    // Registered twice.
    const twice = [...registry, { log_index: events[0].log_index - 0.5, event: registration.event }].sort((a, b) => a.log_index - b.log_index);
    const { results, broken } = await verifyAuthors(twice, events);
    assert.match(broken.reason, /already registered/);
    assert.deepEqual(results.map((r) => r.status), events.map(() => "fail_registry"));
    // A key id that is not its public key's.
    const keys = new KeyRegistry();
    const wrongId = { ...registration.event, payload: { ...registration.event.payload, key: "ed25519:0000000000000000" } };
    await assert.rejects(keys.apply(wrongId), /does not match its public key/);
    await assert.rejects(keys.apply({ ...registration.event, payload: { ...registration.event.payload, extra: 1 } }), /unknown member/);
    await assert.rejects(keys.apply({ type: "key.revoked", recorded_at: "2026-01-01T00:00:00Z", payload: { key: "ed25519:0000000000000000" } }), /never registered/);
  });

  // Signed notes made here with Node's Web Crypto: a ledger key (C2SP
  // signed-note, type 0x01) and two witness keys (tlog-cosignature, 0x04).
  const b64 = (bytes) => Buffer.from(bytes).toString("base64");
  const cat = (...parts) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));
  async function noteKey(name, type) {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    const typed = cat([type], new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)));
    const keyHash = new Uint8Array(await crypto.subtle.digest("SHA-256", cat(enc.encode(`${name}\n`), typed))).subarray(0, 4);
    const sign = async (message) => new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, enc.encode(message)));
    return { name, keyHash, sign, vkey: `${name}+${hex(keyHash)}+${b64(typed)}` };
  }
  const origin = "test.example/ledger";
  const ledgerKey = await noteKey(origin, 0x01);
  const otherLedger = await noteKey(origin, 0x01);
  const w1 = await noteKey("supervision.example/w1", 0x04);
  const w2 = await noteKey("inspection.example/w2", 0x04);
  const line = (key, body) => `\u2014 ${key.name} ${b64(cat(key.keyHash, body))}\n`;
  /** A checkpoint note of `size` by `by`, cosigned by `cosigners`. */
  async function checkpointNote(size, { by = ledgerKey, cosigners = [], from = origin } = {}) {
    const text = `${from}\n${size}\n${b64(new Uint8Array(32).fill(size % 256))}\n`;
    let note = `${text}\n${line(by, await by.sign(text))}`;
    for (const w of cosigners) {
      const time = 1_790_000_000 + size;
      const t8 = new Uint8Array(8);
      new DataView(t8.buffer).setBigUint64(0, BigInt(time));
      note += line(w, cat(t8, await w.sign(`cosignature/v1\ntime ${time}\n${text}`)));
    }
    return note;
  }
  const pinnedWitnesses = [w1.vkey, w2.vkey];
  /** `older` for chooseCheckpoint: answers `text`, recording the names asked for. */
  const serving = (text) => {
    const f = async (names) => {
      f.asked.push(names);
      return text;
    };
    f.asked = [];
    return f;
  };

  await check("checkpoint choice: the latest when every pinned witness cosigned it", async () => {
    const older = serving(await checkpointNote(10, { cosigners: [w1, w2] }));
    const c = await chooseCheckpoint(await checkpointNote(12, { cosigners: [w1, w2] }), ledgerKey.vkey, pinnedWitnesses, 5, older);
    assert.equal(c.cp.size, 12);
    assert.equal(c.signed, true);
    assert.equal(c.newer, null);
    assert.deepEqual(c.witnesses.map((w) => [w.name, w.time !== null, w.absent]), [[w1.name, true, false], [w2.name, true, false]]);
    assert.equal(older.asked.length, 0, "no older checkpoint asked for");
  });

  await check("checkpoint choice: the newest all pinned witnesses cosigned, when one has not cosigned the latest", async () => {
    const older = serving(await checkpointNote(10, { cosigners: [w2, w1] }));
    const c = await chooseCheckpoint(await checkpointNote(12, { cosigners: [w1] }), ledgerKey.vkey, pinnedWitnesses, 10, older);
    assert.deepEqual(older.asked, [[w1.name, w2.name]]);
    assert.equal(c.cp.size, 10);
    assert.equal(c.signed, true);
    assert.deepEqual(c.newer, { size: 12, waiting: [w2.name] });
    assert.ok(c.witnesses.every((w) => w.time !== null && !w.absent));
    // No witness pinned: nothing to wait for.
    const none = await chooseCheckpoint(await checkpointNote(12), ledgerKey.vkey, [], 10, older);
    assert.equal(none.cp.size, 12);
  });

  await check("checkpoint choice: the latest, waiting, when no older checkpoint will do", async () => {
    const latest = await checkpointNote(12, { cosigners: [w1] });
    const waitingOn = async (olderText, { needed = 10, key = ledgerKey.vkey, note = latest } = {}) => {
      const c = await chooseCheckpoint(note, key, pinnedWitnesses, needed, serving(olderText));
      assert.equal(c.newer, null);
      assert.equal(c.cp.size, 12);
      return c;
    };
    // None; one that does not hold the case's entries; one not smaller.
    let c = await waitingOn(null);
    assert.deepEqual(c.witnesses.map((w) => w.absent), [false, true]);
    await waitingOn(await checkpointNote(10, { cosigners: [w1, w2] }), { needed: 11 });
    await waitingOn(await checkpointNote(12, { cosigners: [w1, w2] }));
    // Signed by another key, or of another log.
    await waitingOn(await checkpointNote(10, { by: otherLedger, cosigners: [w1, w2] }));
    await waitingOn(await checkpointNote(10, { from: "other.example/log", cosigners: [w1, w2] }));
    // Not cosigned by every pinned witness; a cosignature altered.
    await waitingOn(await checkpointNote(10, { cosigners: [w1] }));
    const good = await checkpointNote(10, { cosigners: [w1, w2] });
    const lines = good.split("\n");
    const last = fromBase64(lines.at(-2).split(" ")[2]);
    last[last.length - 1] ^= 1;
    lines[lines.length - 2] = `\u2014 ${w2.name} ${b64(last)}`;
    await waitingOn(lines.join("\n"));
    await waitingOn("not a note");
    // The latest not signed by the pinned key: no older one is looked for.
    const older = serving(good);
    c = await chooseCheckpoint(latest, otherLedger.vkey, pinnedWitnesses, 10, older);
    assert.equal(c.signed, false);
    assert.equal(older.asked.length, 0);
  });

  await check("checkpoint choice: a bad cosignature on the latest is shown, not passed over", async () => {
    const latest = await checkpointNote(12, { cosigners: [w1] });
    // w2's name and key hash on a line that does not verify.
    const forged = latest + line(w2, new Uint8Array(72));
    const older = serving(await checkpointNote(10, { cosigners: [w1, w2] }));
    const c = await chooseCheckpoint(forged, ledgerKey.vkey, pinnedWitnesses, 10, older);
    assert.equal(c.cp.size, 12);
    assert.equal(older.asked.length, 0);
    const ws = await witnessCosignatures(c.note, pinnedWitnesses);
    assert.deepEqual(ws.map((w) => [w.time !== null, w.absent]), [[true, false], [false, false]]);
  });

  console.log("VERIFY PASS");
} catch (e) {
  console.error(`FAIL after ${results.length} checks: ${e.message}`);
  process.exit(1);
}
