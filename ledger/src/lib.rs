//! The ledger core: signed, hash-chained event streams on an RFC 6962
//! Merkle transparency log, with a durable embedded store.
//!
//! # Layout
//!
//! Pure formats — no I/O, usable by any verifier:
//! - [`merkle`]: RFC 6962 / RFC 9162 tree hashing, inclusion and consistency
//!   proofs, generic over the narrow [`merkle::HashReader`] trait.
//! - [`tiles`]: C2SP tlog-tiles paths, hash tiles and entry bundles.
//! - [`note`]: C2SP signed-note (Ed25519).
//! - [`checkpoint`]: C2SP tlog-checkpoint.
//! - [`cosignature`]: C2SP tlog-cosignature.
//! - [`sha256`]: SHA-256, the one hash of the tree, links and key ids.
//! - [`ids`], [`time`]: identifier and timestamp newtypes.
//! - [`clock`]: the server time the store stamps (system, or set by the
//!   demo loader).
//! - [`jcs`]: RFC 8785 canonical JSON, written straight from values.
//! - [`event`]: the event model and its RFC 8785 canonical bytes (SPEC.md).
//! - [`keys`]: department keys and their history from the `registry` stream.
//! - [`verify`]: checks of one event, a stream's chain, a checkpoint, and the
//!   [`verify::Auditor`] that walks a whole log.
//!
//! With I/O:
//! - [`store`]: the async [`store::Store`] contract every backend implements,
//!   proofs/tiles/following built on it, and the embedded SQLite backend.
//! - [`datadir`]: a data directory: the ledger key (0600) and the store.
//! - [`audit`]: `verify_store`, driving the pure auditor over a store.
//!
//! Evidence:
//! - [`bundle`]: the evidence bundle of one case or complaint and its
//!   offline verification (pure).

pub mod audit;
pub mod bundle;
pub mod checkpoint;
pub mod clock;
pub mod cosignature;
pub mod datadir;
pub mod error;
pub mod event;
pub mod ids;
pub mod jcs;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod sha256;
pub mod store;
pub mod tiles;
pub mod time;
pub mod verify;

pub use clock::{Clock, ManualClock};
pub use error::Error;
pub use event::{Actor, Event, LeafHash, ProposedEvent};
pub use ids::{ActorId, EventId, EventType, LogIndex, StreamId, StreamVersion};
pub use keys::{KeyId, KeyRegistry};
pub use store::{AppendRequest, ExpectedVersion, Receipt, Store};
pub use time::Timestamp;
