//! The catalogue of service items, folded from the `catalog` stream.
//!
//! Every published version is kept: a case is judged against the item
//! version it was accepted under, not whatever the catalogue says today.
//! Events whose payload does not fit the schema (appended before the api
//! validated them) are skipped, never guessed at.

use std::collections::BTreeMap;

use ledger::{Event, EventId, Timestamp};
use serde::Serialize;

use crate::schema::{self, DomainEvent, ServiceItem};

/// One version of an item, with the event that published it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemVersion {
    pub item: ServiceItem,
    pub event_id: EventId,
    pub published_at: Timestamp,
}

/// An item's history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ItemHistory {
    pub versions: Vec<ItemVersion>,
    /// The withdrawal, if the item was withdrawn.
    pub withdrawn: Option<EventId>,
}

/// Every item's history, by item id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Catalogue {
    items: BTreeMap<String, ItemHistory>,
}

impl Catalogue {
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut c = Catalogue::default();
        for ev in events {
            c.apply(ev);
        }
        c
    }

    /// Applies one event of the `catalog` stream.
    pub fn apply(&mut self, ev: &Event) {
        let Ok(Some(parsed)) = schema::parse_object(ev.event_type.as_str(), &ev.payload) else {
            return;
        };
        match parsed {
            DomainEvent::ItemPublished(item) | DomainEvent::ItemRevised(item) => {
                let history = self.items.entry(item.item_id.to_string()).or_default();
                // A version is published once; a repeat is ignored.
                if history
                    .versions
                    .iter()
                    .all(|v| v.item.version != item.version)
                {
                    history.versions.push(ItemVersion {
                        item,
                        event_id: ev.id,
                        published_at: ev.recorded_at.clone(),
                    });
                    history.withdrawn = None;
                }
            }
            DomainEvent::ItemWithdrawn(w) => {
                if let Some(h) = self.items.get_mut(w.item_id.as_str()) {
                    h.withdrawn = Some(ev.id);
                }
            }
            _ => {}
        }
    }

    /// The item `id` at `version`.
    pub fn item(&self, id: &str, version: u32) -> Option<&ServiceItem> {
        self.items
            .get(id)?
            .versions
            .iter()
            .find(|v| v.item.version == version)
            .map(|v| &v.item)
    }

    /// The latest version of item `id`.
    pub fn latest(&self, id: &str) -> Option<&ServiceItem> {
        self.items
            .get(id)?
            .versions
            .iter()
            .max_by_key(|v| v.item.version)
            .map(|v| &v.item)
    }

    pub fn history(&self, id: &str) -> Option<&ItemHistory> {
        self.items.get(id)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
