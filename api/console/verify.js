// Verification in the browser, with Web Crypto only: nothing here takes
// the server's word for a hash, a root or a signature.
//
// - Entry bytes come from C2SP tlog-tiles entry bundles, verbatim: every
//   hash is over the bytes as served. They are re-serialised (RFC 8785)
//   only to check that they are canonical and to build an author's signed
//   message.
// - Leaf hash: SHA-256(0x00 || entry) (RFC 6962 §2.1, RFC 9162 §2.1.1).
// - Inclusion: the RFC 9162 §2.1.3.2 algorithm, up to the root of the
//   checkpoint whose signature was verified.
// - Checkpoint: C2SP tlog-checkpoint in a C2SP signed-note, Ed25519, under
//   the ledger key the user pinned (localStorage), not the one the server
//   announces today.
// - Witnesses: C2SP tlog-cosignature (`cosignature/v1`, type 0x04) under
//   pinned witness keys. When a pinned witness has not yet cosigned the
//   latest checkpoint, the case is verified against the newest checkpoint
//   that every pinned witness did cosign (`GET /v1/checkpoints`), if it
//   covers the case's entries; its size is shown.
// - Chain: SPEC.md §6, each `prev` is the previous event's leaf hash.
// - Entries: SPEC.md §2, each is byte for byte the RFC 8785 (JCS) form of
//   what it parses to.
// - Authors' signatures: SPEC.md §3 and §5, each signed step's Ed25519
//   signature over `ledger-event-signature/v1\n` || JCS(the author's
//   members), under the department key that the log's own `registry` stream
//   held at that point in log order (registered, not revoked, valid from
//   before the step, of the step's department). The registry's entries come
//   from the tiles too and are checked like the case's: inclusion in the
//   same checkpoint, chain from version 0, strictly rising log indexes.
//
// What it cannot see: a registry event the server leaves off the END of the
// registry's list (the chain shows any gap before the last one listed), say
// a revocation before a signed step; `ledger monitor` reads the whole log
// and would.

import { get, ApiError } from "./api.js";

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

// --- RFC 8785 (JCS) ---

/** RFC 8785: the canonical JSON text of a value as JSON.parse gives it.
 *  Literals, strings and numbers are written as ECMAScript's JSON.stringify
 *  writes them (RFC 8785 §3.2.2 prescribes exactly that), and object members
 *  are sorted by their names' UTF-16 code units (§3.2.3), which is how
 *  Array.prototype.sort compares strings. */
export function jcs(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error("JCS: not a finite number");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(jcs).join(",")}]`;
  if (typeof value === "object") {
    const members = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${jcs(value[k])}`);
    return `{${members.join(",")}}`;
  }
  throw new Error(`JCS: cannot write a ${typeof value}`);
}

/** SPEC §2: the event an entry holds, or null unless the entry is UTF-8
 *  JSON whose RFC 8785 form is byte for byte the entry (so one event has
 *  one byte string; a BOM, a duplicate member or an integer past 2^53
 *  cannot pass). */
export function parseEntry(entry) {
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(entry);
    const event = JSON.parse(text);
    if (!event || typeof event !== "object" || Array.isArray(event)) return null;
    return jcs(event) === text ? event : null;
  } catch {
    return null;
  }
}

// --- SPEC §3 and §5: authors' signatures and the key registry ---

/** SPEC §3: what precedes the JCS object in the signed message. */
export const SIGNATURE_CONTEXT = "ledger-event-signature/v1\n";

const ACTOR_ID = /^[A-Za-z0-9._-]{1,64}$/;
const ED25519_KEY_ID = /^ed25519:[0-9a-f]{16}$/;

/** SPEC §3: the bytes an author signs, from a parsed event. */
export function signingMessage(event) {
  const { v, id, stream, type, occurred_at, actor, payload } = event;
  return enc.encode(SIGNATURE_CONTEXT + jcs({ v, id, stream, type, occurred_at, actor, payload }));
}

/** SPEC §5: `<alg>:` and the hex of the first 8 bytes of SHA-256(public key). */
export async function keyIdOf(alg, publicKey) {
  return `${alg}:${hex((await sha256(publicKey)).subarray(0, 8))}`;
}

/** An RFC 3339 UTC time (`…Z`, upper-case `T`, SPEC §1) as text that sorts
 *  in time order to the nanosecond (Date keeps only milliseconds, and
 *  `recorded_at` has microseconds); null if it is not one. */
export function timeKey(text) {
  const m = typeof text === "string" ? /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(text) : null;
  if (!m || Number.isNaN(Date.parse(`${m[1]}T${m[2]}Z`))) return null;
  return `${m[1]}T${m[2]}.${(m[3] ?? "").padEnd(9, "0")}`;
}

/** The department keys as `registry` events leave them (SPEC §5), applied
 *  in log order. */
export class KeyRegistry {
  constructor() {
    this.keys = new Map();
  }

  /** Applies one `registry` event (parsed from its verified entry); other
   *  event types change nothing. Throws an Error saying why an event is not
   *  a valid change (the ledger refuses such events, so one in the log means
   *  the log was not written by a correct ledger). */
  async apply(event) {
    const p = event.payload;
    const members = (allowed, required) => {
      if (!p || typeof p !== "object" || Array.isArray(p)) throw new Error(`${event.type}: payload is not an object`);
      for (const k of Object.keys(p)) if (!allowed.includes(k)) throw new Error(`${event.type}: unknown member ${k}`);
      for (const k of required) if (p[k] === undefined) throw new Error(`${event.type}: no ${k}`);
    };
    if (event.type === "key.registered") {
      members(["key", "alg", "public_key", "department", "valid_from"], ["key", "alg", "public_key", "department"]);
      if (p.alg !== "ed25519") throw new Error(`key.registered: unsupported alg ${String(p.alg).slice(0, 32)}`);
      if (typeof p.key !== "string" || !ED25519_KEY_ID.test(p.key)) throw new Error("key.registered: not a key id");
      if (typeof p.department !== "string" || !ACTOR_ID.test(p.department)) throw new Error("key.registered: not a department id");
      let publicKey = null;
      try {
        publicKey = typeof p.public_key === "string" ? fromBase64(p.public_key) : null;
      } catch {
        publicKey = null;
      }
      if (!publicKey || publicKey.length !== 32) throw new Error(`${p.key}: an Ed25519 public key is 32 bytes of base64`);
      const derived = await keyIdOf("ed25519", publicKey);
      if (derived !== p.key) throw new Error(`${p.key} does not match its public key (its id is ${derived})`);
      if (this.keys.has(p.key)) throw new Error(`${p.key} is already registered`);
      const validFrom = p.valid_from ?? event.recorded_at;
      if (timeKey(validFrom) === null) throw new Error(`${p.key}: valid_from is not an RFC 3339 UTC time`);
      this.keys.set(p.key, { key: p.key, alg: p.alg, publicKey, department: p.department, validFrom, revokedAt: null });
    } else if (event.type === "key.revoked") {
      members(["key", "reason"], ["key"]);
      const rec = this.keys.get(p.key);
      if (!rec) throw new Error(`key.revoked: ${String(p.key).slice(0, 40)} was never registered`);
      if (rec.revokedAt !== null) throw new Error(`${p.key} is already revoked`);
      rec.revokedAt = event.recorded_at;
    }
  }
}

/**
 * SPEC §5: the author signature of a parsed event under `registry` as it
 * stood just before the event. Answers `{status, key}`: status `valid`,
 * `unsigned` (no signature: nothing to check), or the first refusal, in the
 * order `ledger verify` names them: `fail_sig_alg`, `fail_sig_unknown_key`,
 * `fail_sig_revoked`, `fail_sig_not_yet_valid`, `fail_sig_department`,
 * `fail_sig_invalid` (the Ed25519 check over the §3 message).
 */
export async function verifyAuthor(registry, event) {
  const sig = event.signature;
  if (sig === undefined) return { status: "unsigned", key: null };
  if (!sig || typeof sig !== "object" || sig.alg !== "ed25519") return { status: "fail_sig_alg", key: sig?.key ?? null };
  const rec = registry.keys.get(sig.key);
  if (!rec) return { status: "fail_sig_unknown_key", key: sig.key };
  if (rec.alg !== sig.alg) return { status: "fail_sig_alg", key: sig.key };
  if (rec.revokedAt !== null) return { status: "fail_sig_revoked", key: sig.key };
  const at = timeKey(event.recorded_at);
  if (at === null || at < timeKey(rec.validFrom)) return { status: "fail_sig_not_yet_valid", key: sig.key };
  if (rec.department !== event.actor?.department) return { status: "fail_sig_department", key: sig.key };
  let bytes = null;
  try {
    bytes = typeof sig.sig === "string" ? fromBase64(sig.sig) : null;
  } catch {
    bytes = null;
  }
  let ok = false;
  if (bytes && bytes.length === 64) {
    try {
      ok = await ed25519Verify(rec.publicKey, bytes, signingMessage(event));
    } catch {
      ok = false;
    }
  }
  return { status: ok ? "valid" : "fail_sig_invalid", key: sig.key };
}

/**
 * The author signatures of `events` (`[{log_index, event}]`, parsed from
 * verified entries, in log order), applying `registry` (the same shape,
 * the `registry` stream from version 0, in log order) up to each event.
 * Answers `{results: [{status, key}…], broken}`: after a registry event that
 * is not a valid change (`broken`: {version, reason}), no signature can be
 * judged and each signed event is `fail_registry`.
 */
export async function verifyAuthors(registry, events) {
  const keys = new KeyRegistry();
  const results = [];
  let broken = null;
  let r = 0;
  for (const e of events) {
    for (; r < registry.length && registry[r].log_index < e.log_index; r++) {
      if (broken) continue;
      try {
        await keys.apply(registry[r].event);
      } catch (err) {
        broken = { version: registry[r].event.version, reason: err.message };
      }
    }
    if (e.event.signature === undefined) results.push({ status: "unsigned", key: null });
    else if (broken) results.push({ status: "fail_registry", key: e.event.signature?.key ?? null });
    else results.push(await verifyAuthor(keys, e.event));
  }
  return { results, broken };
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

// --- which checkpoint to verify against ---

/** The pinned witnesses' cosignatures on a parsed note: one
 *  `{key, name, time, absent}` per pinned key text; `time` is the witness's
 *  time of a valid cosignature (else null), `absent` that the note has no
 *  line by that name and key hash (not cosigned yet, not a bad one). */
export async function witnessCosignatures(note, witnessKeys) {
  const out = [];
  for (const w of witnessKeys) {
    let time = null;
    let present = false;
    try {
      const wkey = await parseVerifierKey(w);
      present = note.signatures.some((s) => s.name === wkey.name && equal(s.keyHash, wkey.keyHash));
      time = await verifyCosignature(note, wkey);
    } catch {
      time = null;
    }
    out.push({ key: w, name: w.split("+")[0], time, absent: !present });
  }
  return out;
}

/** The note text of the newest checkpoint that every witness named has
 *  cosigned, from `GET /v1/checkpoints` (public), or null when there is
 *  none or the server does not say. */
export async function newestCosigned(names) {
  const q = new URLSearchParams();
  for (const n of names) q.append("cosigned_by", n);
  q.set("limit", "1");
  try {
    const list = await get(`/v1/checkpoints?${q}`, { auth: false });
    return typeof list?.checkpoints?.[0]?.checkpoint === "string" ? list.checkpoints[0].checkpoint : null;
  } catch (e) {
    if (e instanceof ApiError) return null;
    throw e;
  }
}

/**
 * The checkpoint to verify against. The latest (`latestText`, a signed note
 * with its cosignature lines), unless it is signed by the pinned ledger key
 * and some pinned witness has no line on it (and none has a bad one): then
 * the newest checkpoint that every pinned witness cosigned
 * (`older(names)` answers its note text, or null) when that one is of the
 * same log, signed by the pinned ledger key, carries a valid cosignature by
 * every pinned witness, is smaller than the latest and holds the first
 * `needed` entries. Anything else about it leaves the latest in place, with
 * its witnesses shown as not yet cosigned.
 *
 * Answers `{note, cp, signed, witnesses, newer}`: `newer` is null, or
 * `{size, waiting: [names]}` for the latest checkpoint not used.
 */
export async function chooseCheckpoint(latestText, ledgerKey, witnessKeys, needed, older) {
  let vkey = null;
  try {
    vkey = ledgerKey ? await parseVerifierKey(ledgerKey) : null;
  } catch {
    vkey = null;
  }
  const isSigned = async (note, cp) => {
    try {
      return vkey !== null && vkey.name === cp.origin && (await verifyNoteSignature(note, vkey));
    } catch {
      return false;
    }
  };
  const note = parseNote(latestText);
  const cp = parseCheckpoint(note.text);
  const signed = await isSigned(note, cp);
  const witnesses = await witnessCosignatures(note, witnessKeys);
  const latest = { note, cp, signed, witnesses, newer: null };
  const waiting = witnesses.filter((w) => w.absent);
  if (!signed || !waiting.length || witnesses.some((w) => w.time === null && !w.absent)) return latest;
  const names = [];
  for (const w of witnessKeys) {
    try {
      names.push((await parseVerifierKey(w)).name);
    } catch {
      return latest; // an unreadable pinned key: nothing can carry its cosignature
    }
  }
  const text = await older(names);
  if (typeof text !== "string") return latest;
  let other;
  try {
    const n = parseNote(text);
    other = { note: n, cp: parseCheckpoint(n.text) };
  } catch {
    return latest;
  }
  if (other.cp.origin !== cp.origin || other.cp.size >= cp.size || other.cp.size < needed) return latest;
  if (!(await isSigned(other.note, other.cp))) return latest;
  const otherWitnesses = await witnessCosignatures(other.note, witnessKeys);
  if (otherWitnesses.some((w) => w.time === null)) return latest;
  return { ...other, signed: true, witnesses: otherWitnesses, newer: { size: cp.size, waiting: waiting.map((w) => w.name) } };
}

/** A check's outcome: `ok` true (✓), false (✗) or null (not applicable,
 *  or not yet: a pinned witness that has not cosigned this checkpoint). */
function check(id, ok, detail) {
  return { id, ok, detail };
}

/** The events (`{log_index, event}` as the API lists them) of `stream` from
 *  version 0 while `keep` holds. */
async function listStream(stream, keep) {
  const events = [];
  let from = 0;
  for (;;) {
    const page = await get(`/v1/streams/${encodeURIComponent(stream)}/events?from=${from}&limit=1000`);
    let more = true;
    for (const e of page.events) {
      if (keep(e)) events.push(e);
      else more = false;
    }
    if (!more || page.next === null || page.next === undefined) return events;
    from = page.next;
  }
}

/** The `registry` stream's events before log index `before`; null when
 *  this token may not read it (SPEC §5's key history is then unknown here). */
async function listRegistry(before) {
  try {
    return await listStream("registry", (e) => e.log_index < before);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return null;
    if (e instanceof ApiError && e.status === 404) return [];
    throw e;
  }
}

/**
 * Checks listed events of `stream` against the checkpoint `cp`: each entry
 * (from the tiles, `entryAt(log index)`) is in the tree (its inclusion proof
 * leads to the signed root), is a canonical event of `stream` at the next
 * version, linked to the previous one (SPEC §6), at a rising log index.
 * Answers one `{problems, event, leaf}` per listed event (`event` parsed
 * from the entry, never from the API's answer), with counts.
 */
async function checkEntries(stream, listed, cp, entryAt) {
  const proofs = await Promise.all(
    listed.map((e) =>
      e.log_index < cp.size
        ? get(`/v1/proofs/inclusion?log_index=${e.log_index}&tree_size=${cp.size}`, { auth: false })
        : null,
    ),
  );
  const out = [];
  let included = 0;
  let linked = 0;
  let prevLeaf = ZERO_HASH;
  let prevIndex = -1;
  for (const [k, e] of listed.entries()) {
    const problems = [];
    const entry = entryAt(e.log_index);
    let event = null;
    let leaf = null;
    if (e.log_index >= cp.size) {
      problems.push("not_in_checkpoint");
      prevLeaf = null;
    } else if (!entry) {
      problems.push("fail_missing");
      prevLeaf = null;
    } else {
      leaf = await leafHash(entry);
      const root = await rootFromInclusionProof(e.log_index, cp.size, leaf, proofs[k].hashes.map(fromHex));
      if (root && equal(root, cp.root)) included++;
      else problems.push("fail_inclusion");
      event = parseEntry(entry);
      if (!event) problems.push("fail_canonical");
      else if (event.stream !== stream) problems.push("fail_stream");
      else if (event.version !== k || !(e.log_index > prevIndex)) problems.push("fail_version");
      else if (prevLeaf === null || event.prev !== prevLeaf) problems.push("fail_chain");
      else linked++;
      prevLeaf = hex(leaf);
    }
    prevIndex = e.log_index;
    out.push({ problems, event, leaf });
  }
  return { entries: out, included, linked };
}

/**
 * Verifies the stream's events from version 0 through `throughVersion`
 * against the log's latest checkpoint (or the newest all pinned witnesses
 * cosigned: `chooseCheckpoint`). `shown` maps event ids to what the
 * page shows of them ({type, occurred_at, recorded_at, department,
 * officer}), which must match the entries.
 *
 * Answers {checks: [...], events: Map(event id → {version, ok, problems,
 * signature: {status, key}}), size (of the checkpoint used), newer (null,
 * or the latest checkpoint not used: {size, waiting}), entries, witnesses,
 * signatures}.
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
  // 2. The checkpoint, signed by the pinned key: the latest, or the newest
  //    that every pinned witness cosigned when one has not yet cosigned the
  //    latest (and that one holds the stream's listed events).
  const events = await listStream(stream, (e) => e.event.version <= throughVersion);
  const needed = Math.max(0, ...events.map((e) => e.log_index + 1));
  const noteText = await get("/checkpoint", { as: "text", auth: false });
  const { note, cp, signed, witnesses, newer } = await chooseCheckpoint(noteText, keyText, pinned.witnesses, needed, newestCosigned);
  checks.push(check("checkpoint", signed, { size: cp.size, origin: cp.origin, latest: newer?.size ?? null }));
  // 3. Cosignatures by pinned witnesses. A witness with no line on this
  //    checkpoint has not cosigned it yet (witnesses cosign a new checkpoint
  //    when they next see it): shown as such, not as a bad signature; a
  //    line by its name and key hash that does not verify is a failure.
  const cosigned = witnesses.filter((w) => w.time !== null).length;
  const badCosign = witnesses.some((w) => w.time === null && !w.absent);
  const waiting = witnesses.filter((w) => w.absent);
  checks.push(
    check("cosign", !witnesses.length ? null : badCosign ? false : waiting.length ? null : true, {
      valid: cosigned,
      pinned: witnesses.length,
      waiting: waiting.map((w) => w.name),
      size: cp.size,
      lines: note.signatures.length - 1,
      newer,
    }),
  );
  // 4. The stream's events and the registry's before them, their entries
  //    from the tiles of this checkpoint.
  const lastIndex = Math.min(cp.size, Math.max(0, ...events.map((e) => e.log_index + 1)));
  const registry = events.length ? await listRegistry(lastIndex) : [];
  const bundles = new Map();
  for (const e of [...events, ...(registry ?? [])]) {
    const n = Math.floor(e.log_index / BUNDLE_WIDTH);
    if (e.log_index < cp.size && !bundles.has(n)) bundles.set(n, null);
  }
  await Promise.all(
    [...bundles.keys()].map(async (n) => {
      bundles.set(n, parseBundle(await get(bundlePath(n, cp.size), { as: "bytes", auth: false })));
    }),
  );
  const entryAt = (i) => bundles.get(Math.floor(i / BUNDLE_WIDTH))?.[i % BUNDLE_WIDTH];
  const [own, reg] = await Promise.all([
    checkEntries(stream, events, cp, entryAt),
    registry ? checkEntries("registry", registry, cp, entryAt) : null,
  ]);
  // 5. Authors' signatures, under the registry as it stood before each
  //    event; only when every registry entry before them verified.
  const registryOk = reg !== null && reg.entries.every((x) => x.problems.length === 0);
  let authors = null;
  if (registryOk) {
    const verifiedEvents = [];
    const positions = [];
    for (const [k, x] of own.entries.entries()) {
      if (x.event) {
        verifiedEvents.push({ log_index: events[k].log_index, event: x.event });
        positions.push(k);
      }
    }
    const registryEvents = reg.entries.map((x, k) => ({ log_index: registry[k].log_index, event: x.event }));
    const { results, broken } = await verifyAuthors(registryEvents, verifiedEvents);
    authors = { byPosition: new Map(positions.map((p, i) => [p, results[i]])), broken };
  }
  const results = new Map();
  let matching = 0;
  const tally = { valid: 0, signed: 0, unsigned: 0 };
  for (const [k, e] of events.entries()) {
    const { problems, event: parsed } = own.entries[k];
    const id = e.event.id;
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
    // The signature, judged on the entry's own bytes.
    let signature = { status: "unchecked", key: null };
    if (parsed && parsed.signature === undefined) signature = { status: "unsigned", key: null };
    else if (authors?.byPosition.has(k)) signature = authors.byPosition.get(k);
    else if (parsed && reg !== null) signature = { status: "fail_registry", key: parsed.signature?.key ?? null };
    if (signature.status === "unsigned") tally.unsigned++;
    else if (parsed) tally.signed++;
    if (signature.status === "valid") tally.valid++;
    if (signature.status.startsWith("fail_")) problems.push(signature.status);
    // A proof up to a root nobody trusted proves nothing.
    if (!signed) problems.push("fail_checkpoint");
    results.set(id, { version: e.event.version, ok: problems.length === 0, problems, signature });
  }
  const n = events.length;
  checks.push(check("leaves", n > 0 && own.included === n, { done: own.included, of: n }));
  checks.push(check("chain", n > 0 && own.linked === n, { done: own.linked, of: n }));
  checks.push(check("shown", n > 0 && matching === n, { done: matching, of: n }));
  if (reg === null) {
    checks.push(check("registry", null, { forbidden: true }));
  } else {
    const good = reg.entries.filter((x) => x.problems.length === 0).length;
    const broken = authors?.broken ?? null;
    checks.push(check("registry", good === reg.entries.length && !broken, { done: good, of: reg.entries.length, broken }));
  }
  checks.push(
    check("signatures", reg === null || tally.signed === 0 ? null : tally.valid === tally.signed, {
      ...tally,
      forbidden: reg === null,
    }),
  );
  return { checks, events: results, size: cp.size, newer, entries: n, witnesses, signatures: { ...tally, forbidden: reg === null } };
}
