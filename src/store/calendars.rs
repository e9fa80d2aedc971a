//! Exclusion calendars: load (compiled, for the scheduler), create or
//! replace and delete through the API, list.
//!
//! A calendar row holds the JSON of a [`CalendarDef`] (its `timezone` set:
//! the configuration fills in `[scheduler] timezone`; a definition stored
//! through the API without one is read in UTC). Triggers name calendars in
//! `triggers.calendars`, comma-separated. A calendar declared in the
//! configuration file is changed and removed only there.

use std::collections::HashMap;
use std::sync::Arc;

use chrono_tz::Tz;
use entity::calendars;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};

use super::calendar_reschedule::reschedule_naming;
use super::storable::refuse_nul;
use super::{Store, StoreError, codec};
use crate::model::{Calendar, JobSource};
use crate::schedule::calendar::{self, CalendarDef, CalendarSet};

/// Calendars loaded by name and compiled: a stored definition that does not
/// decode or compile keeps its error, so only the triggers naming it fail.
#[derive(Debug, Clone, Default)]
pub struct LoadedCalendars(HashMap<String, Result<Arc<calendar::Calendar>, String>>);

impl LoadedCalendars {
    /// The set of the named calendars, or why it cannot be built (a name
    /// that does not exist, a definition that does not compile).
    pub fn set_for(&self, names: &[String]) -> Result<CalendarSet, String> {
        names
            .iter()
            .map(|name| match self.0.get(name) {
                Some(Ok(calendar)) => Ok(calendar.clone()),
                Some(Err(e)) => Err(format!("calendar `{name}` cannot be used: {e}")),
                None => Err(format!(
                    "calendar `{name}` does not exist: declare it in a [[calendar]] table of the \
                     configuration file or create it through the API, or remove it from the \
                     trigger's calendars"
                )),
            })
            .collect()
    }

    /// Whether no calendar was loaded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub(super) async fn load_calendars<C: ConnectionTrait>(
    store: &Store,
    db: &C,
    names: &[String],
) -> Result<LoadedCalendars, StoreError> {
    if names.is_empty() {
        return Ok(LoadedCalendars::default());
    }
    let rows = calendars::Entity::find()
        .filter(calendars::Column::Name.is_in(names.iter().map(String::as_str)))
        .all(db)
        .await?;
    Ok(LoadedCalendars(
        rows.iter()
            .map(|row| {
                let compiled = match codec::calendar(row) {
                    Ok(c) => c
                        .definition
                        .compile(Tz::UTC)
                        .map(Arc::new)
                        .map_err(|e| e.to_string()),
                    Err(e) => {
                        store.put_aside(&e);
                        Err(e.reason())
                    }
                };
                (row.name.clone(), compiled)
            })
            .collect(),
    ))
}

/// Validates a calendar definition given through the API; returns its
/// canonical JSON.
fn checked_definition(def: &CalendarDef) -> Result<String, StoreError> {
    let invalid = |message: String| StoreError::Invalid {
        field: "definition",
        message: format!(
            "invalid calendar definition: {message}; expected a JSON object such as \
             {{\"name\": \"holidays\", \"timezone\": \"Europe/Berlin\", \"dates\": [\"2026-12-25\"], \
             \"days_of_week\": [\"sat\", \"sun\"]}}"
        ),
    };
    def.compile(Tz::UTC).map_err(|e| invalid(e.to_string()))?;
    codec::calendar_definition(def)
}

impl Store {
    /// The named calendars, compiled. Names without a row are absent (the
    /// caller reports them); a row that does not compile keeps its error.
    pub async fn calendars_load(&self, names: &[String]) -> Result<LoadedCalendars, StoreError> {
        for name in names {
            refuse_nul("calendar name", name)?;
        }
        load_calendars(self, &self.db, names).await
    }

    /// Creates or replaces a calendar through the API (without `timezone`
    /// it is read in UTC). Stores the canonical JSON, with source `api`. A
    /// calendar declared in the configuration file cannot be replaced here.
    ///
    /// The next fire of every waiting trigger naming it is recomputed in
    /// the same transaction (see [`super::calendar_reschedule`]).
    pub async fn calendar_upsert(
        &self,
        def: &CalendarDef,
        now_ms: i64,
    ) -> Result<Calendar, StoreError> {
        refuse_nul("calendar name", &def.name)?;
        let json = checked_definition(def)?;
        let txn = self.begin_write().await?;
        let existing = calendars::Entity::find_by_id(def.name.clone())
            .one(&txn)
            .await?;
        let row = match existing {
            Some(c) if c.source == JobSource::Config.as_str() => {
                txn.rollback().await?;
                return Err(StoreError::DeclaredInFile {
                    what: "calendar",
                    name: def.name.clone(),
                    remedy: "change it there",
                });
            }
            Some(c) => {
                let mut model = c.into_active_model();
                model.definition = Set(json);
                model.updated_at = Set(now_ms);
                model.update(&txn).await?
            }
            None => {
                calendars::ActiveModel {
                    name: Set(def.name.clone()),
                    definition: Set(json),
                    source: Set(JobSource::Api.as_str().to_string()),
                    created_at: Set(now_ms),
                    updated_at: Set(now_ms),
                }
                .insert(&txn)
                .await?
            }
        };
        reschedule_naming(self, &txn, std::slice::from_ref(&def.name), now_ms).await?;
        txn.commit().await?;
        Ok(codec::calendar(&row)?)
    }

    /// Deletes a calendar created through the API. Triggers still naming it
    /// go to the `error` state when they next come due.
    pub async fn calendar_delete(&self, name: &str) -> Result<(), StoreError> {
        refuse_nul("calendar name", name)?;
        let txn = self.begin_write().await?;
        let row = calendars::Entity::find_by_id(name.to_string())
            .one(&txn)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "calendar",
                name: name.to_string(),
            })?;
        if row.source == JobSource::Config.as_str() {
            return Err(StoreError::DeclaredInFile {
                what: "calendar",
                name: name.to_string(),
                remedy: "remove it there",
            });
        }
        calendars::Entity::delete_by_id(row.name).exec(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Every calendar, by name (a row that does not decode is left out).
    pub async fn calendars_list(&self) -> Result<Vec<Calendar>, StoreError> {
        let rows = calendars::Entity::find()
            .order_by_asc(calendars::Column::Name)
            .all(&self.db)
            .await?;
        Ok(self.decode_all(&rows, codec::calendar))
    }
}
