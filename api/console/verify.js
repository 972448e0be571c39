// Verification in the browser, with Web Crypto only: nothing here takes
// the server's word for a hash, a root or a signature.
//
// - Entry bytes come from C2SP tlog-tiles entry bundles, verbatim (never
//   re-serialised here).
// - Leaf hash: SHA-256(0x00 || entry) (RFC 6962 §2.1, RFC 9162 §2.1.1).
// - Inclusion: the RFC 9162 §2.1.3.2 algorithm, up to the root of the
//   checkpoint whose signature was verified.
// - Checkpoint: C2SP tlog-checkpoint in a C2SP signed-note, Ed25519, under
//   the ledger key the user pinned (localStorage), not the one the server
//   announces today.
// - Witnesses: C2SP tlog-cosignature (`cosignature/v1`, type 0x04) under
//   pinned witness keys.
// - Chain: SPEC.md §6, each `prev` is the previous event's leaf hash.
//
// What it does not check: authors' Ed25519 signatures on events (their
// message is the RFC 8785 form of a subset of the event, which would have
// to be re-serialised here).

import { get } from "./api.js";

const enc = new TextEncoder();
const PINS_KEY = "ledger.console.pins";
const ZERO_HASH = "0".repeat(64);

/** Entries per C2SP tlog-tiles entry bundle. */
export const BUNDLE_WIDTH = 256;

// --- bytes ---

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/.test(text)) throw new Error(`not lower-case hex: ${text.slice(0, 16)}…`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function fromBase64(text) {
  const bin = atob(text);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// --- RFC 6962 / RFC 9162 ---

/** RFC 6962 §2.1: the leaf hash of an entry. */
export function leafHash(entry) {
  return sha256(concat(Uint8Array.of(0), entry));
}

function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to from `leaf` at
 *  `index` in a tree of `size`, or null when the proof cannot be applied
 *  (index out of range, too long or too short). Indexes stay below 2^53,
 *  so halving is done with arithmetic, not 32-bit shifts. */
export async function rootFromInclusionProof(index, size, leaf, path) {
  if (!(index < size)) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  const half = (n) => Math.floor(n / 2);
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? r : null;
}

// --- C2SP tlog-tiles ---

/** C2SP tlog-tiles: N as 3-digit path elements, all but the last with `x`. */
export function tileIndexPath(n) {
  const parts = [];
  do {
    parts.unshift(String(n % 1000).padStart(3, "0"));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return parts.map((p, i) => (i < parts.length - 1 ? `x${p}` : p)).join("/");
}

/** The URL of entry bundle `n` of a tree of `size` (partial at the edge). */
export function bundlePath(n, size) {
  const width = Math.min(BUNDLE_WIDTH, size - n * BUNDLE_WIDTH);
  return `/tile/entries/${tileIndexPath(n)}${width < BUNDLE_WIDTH ? `.p/${width}` : ""}`;
}

/** C2SP tlog-tiles entry bundle: entries, each after a big-endian uint16 length. */
export function parseBundle(bytes) {
  const entries = [];
  let o = 0;
  while (o < bytes.length) {
    if (o + 2 > bytes.length) throw new Error("entry bundle cut inside a length");
    const len = (bytes[o] << 8) | bytes[o + 1];
    if (o + 2 + len > bytes.length) throw new Error("entry bundle cut inside an entry");
    entries.push(bytes.subarray(o + 2, o + 2 + len));
    o += 2 + len;
  }
  return entries;
}

// --- C2SP signed-note, tlog-checkpoint, tlog-cosignature ---

/** Splits a signed note into its text (what is signed, ending in a newline)
 *  and its signature lines `— <name> <base64>`. */
export function parseNote(note) {
  const cut = note.indexOf("\n\n");
  if (cut < 0) throw new Error("not a signed note: no blank line");
  const text = note.slice(0, cut + 1);
  const signatures = [];
  for (const line of note.slice(cut + 2).split("\n")) {
    if (line === "") continue;
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error(`not a signature line: ${line.slice(0, 40)}`);
    const bytes = fromBase64(m[2]);
    if (bytes.length < 5) throw new Error("signature line too short");
    signatures.push({ name: m[1], keyHash: bytes.subarray(0, 4), body: bytes.subarray(4) });
  }
  return { text, signatures };
}

/** C2SP tlog-checkpoint: origin, size and root hash from a note's text. */
export function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length < 4 || !/^[1-9][0-9]*$|^0$/.test(lines[1])) throw new Error("not a checkpoint");
  const root = fromBase64(lines[2]);
  if (root.length !== 32) throw new Error("checkpoint root is not 32 bytes");
  return { origin: lines[0], size: Number(lines[1]), root };
}

/** A signed-note verifier key `<name>+<hex key hash>+<base64(type || key)>`,
 *  its stated key hash checked against SHA-256(name || "\n" || type || key). */
export async function parseVerifierKey(vkey) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(vkey.trim());
  if (!m) throw new Error(`not a verifier key: ${vkey.slice(0, 40)}`);
  const raw = fromBase64(m[3]);
  if (raw.length !== 33) throw new Error("verifier key is not a type byte and 32 bytes");
  const keyHash = (await sha256(concat(enc.encode(m[1]), Uint8Array.of(0x0a), raw))).subarray(0, 4);
  if (hex(keyHash) !== m[2]) throw new Error("verifier key's key hash does not match its key");
  return { name: m[1], keyHash, type: raw[0], key: raw.subarray(1), text: vkey.trim() };
}

async function ed25519Verify(key, signature, message) {
  const k = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, k, signature, message);
}

/** C2SP signed-note: does the note carry a valid Ed25519 (type 0x01)
 *  signature by `vkey` over its text? */
export async function verifyNoteSignature(note, vkey) {
  if (vkey.type !== 0x01) return false;
  for (const sig of note.signatures) {
    if (sig.name === vkey.name && equal(sig.keyHash, vkey.keyHash) && sig.body.length === 64) {
      if (await ed25519Verify(vkey.key, sig.body, enc.encode(note.text))) return true;
    }
  }
  return false;
}

/** C2SP tlog-cosignature: the witness's time (seconds since the epoch,
 *  big-endian uint64 after the key hash), or null if not that shape. */
export function cosignatureTime(sig) {
  if (sig.body.length !== 72) return null;
  let time = 0;
  for (let i = 0; i < 8; i++) time = time * 256 + sig.body[i];
  return time;
}

/** C2SP tlog-cosignature: the witness time (seconds) of a valid
 *  `cosignature/v1` by `wkey` on the note, or null. */
export async function verifyCosignature(note, wkey) {
  if (wkey.type !== 0x04) return null;
  for (const sig of note.signatures) {
    if (sig.name !== wkey.name || !equal(sig.keyHash, wkey.keyHash) || sig.body.length !== 72) continue;
    const time = cosignatureTime(sig);
    const message = enc.encode(`cosignature/v1\ntime ${time}\n${note.text}`);
    if (await ed25519Verify(wkey.key, sig.body.subarray(8), message)) return time;
  }
  return null;
}

// --- pinned keys ---

/** The pinned keys: `{ledger: vkey|null, witnesses: [vkey…]}`. */
export function pins() {
  try {
    const p = JSON.parse(localStorage.getItem(PINS_KEY) || "{}");
    return { ledger: p.ledger || null, witnesses: Array.isArray(p.witnesses) ? p.witnesses : [] };
  } catch {
    return { ledger: null, witnesses: [] };
  }
}

export function savePins(p) {
  localStorage.setItem(PINS_KEY, JSON.stringify({ ledger: p.ledger || null, witnesses: p.witnesses || [] }));
}

// --- one stream, end to end ---

/** A check's outcome: `ok` true (✓), false (✗) or null (not applicable). */
function check(id, ok, detail) {
  return { id, ok, detail };
}

/**
 * Verifies the stream's events from version 0 through `throughVersion`
 * against the log's latest checkpoint. `shown` maps event ids to what the
 * page shows of them ({type, occurred_at, recorded_at, department,
 * officer}), which must match the entries.
 *
 * Answers {checks: [...], events: Map(event id → {version, ok, problems}),
 * size, entries, witnesses}.
 */
export async function verifyStream(stream, throughVersion, shown) {
  const checks = [];
  const pinned = pins();
  const log = await get("/v1/log", { auth: false });
  // 1. The ledger key: pinned on first use; a change is a failure.
  let keyText = pinned.ledger;
  if (!keyText) {
    keyText = log.verifier_key;
    savePins({ ...pinned, ledger: keyText });
    checks.push(check("key", true, { firstUse: true, key: keyText }));
  } else if (keyText !== log.verifier_key) {
    checks.push(check("key", false, { changed: true, key: keyText, announced: log.verifier_key }));
  } else {
    checks.push(check("key", true, { key: keyText }));
  }
  // 2. The checkpoint, signed by the pinned key.
  const noteText = await get("/checkpoint", { as: "text", auth: false });
  const note = parseNote(noteText);
  const cp = parseCheckpoint(note.text);
  let signed = false;
  try {
    const vkey = await parseVerifierKey(keyText);
    signed = vkey.name === cp.origin && (await verifyNoteSignature(note, vkey));
  } catch {
    signed = false;
  }
  checks.push(check("checkpoint", signed, { size: cp.size, origin: cp.origin }));
  // 3. Cosignatures by pinned witnesses.
  const witnesses = [];
  for (const w of pinned.witnesses) {
    let time = null;
    try {
      time = await verifyCosignature(note, await parseVerifierKey(w));
    } catch {
      time = null;
    }
    witnesses.push({ key: w, time });
  }
  const cosigned = witnesses.filter((w) => w.time !== null).length;
  checks.push(
    check("cosign", witnesses.length ? cosigned === witnesses.length : null, {
      valid: cosigned,
      pinned: witnesses.length,
      lines: note.signatures.length - 1,
    }),
  );
  // 4. The stream's events and their entries.
  const events = [];
  let from = 0;
  for (;;) {
    const page = await get(`/v1/streams/${encodeURIComponent(stream)}/events?from=${from}&limit=1000`);
    for (const e of page.events) if (e.event.version <= throughVersion) events.push(e);
    if (page.next === null || page.next === undefined || page.next > throughVersion) break;
    from = page.next;
  }
  const bundles = new Map();
  for (const e of events) {
    const n = Math.floor(e.log_index / BUNDLE_WIDTH);
    if (e.log_index < cp.size && !bundles.has(n)) bundles.set(n, null);
  }
  await Promise.all(
    [...bundles.keys()].map(async (n) => {
      bundles.set(n, parseBundle(await get(bundlePath(n, cp.size), { as: "bytes", auth: false })));
    }),
  );
  const proofs = await Promise.all(
    events.map((e) =>
      e.log_index < cp.size
        ? get(`/v1/proofs/inclusion?log_index=${e.log_index}&tree_size=${cp.size}`, { auth: false })
        : null,
    ),
  );
  const results = new Map();
  let included = 0;
  let linked = 0;
  let matching = 0;
  let prevLeaf = ZERO_HASH;
  for (const [k, e] of events.entries()) {
    const problems = [];
    const id = e.event.id;
    const entry = bundles.get(Math.floor(e.log_index / BUNDLE_WIDTH))?.[e.log_index % BUNDLE_WIDTH];
    if (e.log_index >= cp.size) {
      problems.push("not_in_checkpoint");
      prevLeaf = null;
    } else if (!entry) {
      problems.push("fail_missing");
      prevLeaf = null;
    } else {
      const leaf = await leafHash(entry);
      const root = await rootFromInclusionProof(e.log_index, cp.size, leaf, proofs[k].hashes.map(fromHex));
      if (root && equal(root, cp.root)) included++;
      else problems.push("fail_inclusion");
      let parsed = null;
      try {
        parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry));
      } catch {
        parsed = null;
      }
      if (!parsed || parsed.stream !== stream) problems.push("fail_stream");
      else if (parsed.version !== k) problems.push("fail_version");
      else if (prevLeaf === null || parsed.prev !== prevLeaf) problems.push("fail_chain");
      else linked++;
      const view = shown.get(parsed?.id ?? id);
      const same =
        parsed &&
        parsed.id === id &&
        (!view ||
          (view.type === parsed.type &&
            view.occurred_at === parsed.occurred_at &&
            view.recorded_at === parsed.recorded_at &&
            view.department === parsed.actor?.department &&
            (view.officer ?? null) === (parsed.actor?.officer ?? null)));
      if (same) matching++;
      else problems.push("fail_shown");
      prevLeaf = hex(leaf);
    }
    // A proof up to a root nobody trusted proves nothing.
    if (!signed) problems.push("fail_checkpoint");
    results.set(id, { version: e.event.version, ok: problems.length === 0, problems });
  }
  const n = events.length;
  checks.push(check("leaves", n > 0 && included === n, { done: included, of: n }));
  checks.push(check("chain", n > 0 && linked === n, { done: linked, of: n }));
  checks.push(check("shown", n > 0 && matching === n, { done: matching, of: n }));
  return { checks, events: results, size: cp.size, entries: n, witnesses };
}
