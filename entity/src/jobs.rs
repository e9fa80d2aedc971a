//! `jobs`: what to run (kind and settings), where (pool) and how (overlap,
//! timeout, retries, recovery).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub kind: String,
    pub settings: String,
    pub data: String,
    pub pool: String,
    pub job_group: Option<String>,
    pub overlap: String,
    pub timeout_ms: Option<i64>,
    pub priority: i32,
    pub retry_max_attempts: i32,
    pub retry_backoff_ms: i64,
    pub retry_factor: f64,
    pub retry_max_backoff_ms: i64,
    pub retry_jitter: f64,
    pub requests_recovery: bool,
    pub paused: bool,
    pub source: String,
    pub config_hash: Option<String>,
    /// JSON; NULL: the `[scheduler] keep_fires` defaults.
    pub keep_fires: Option<String>,
    pub expect_success_within_ms: Option<i64>,
    /// JSON `{"kind": "uniform" | "hash", "window_ms": N}`; NULL: none.
    pub jitter: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::triggers::Entity")]
    Triggers,
    #[sea_orm(has_many = "super::fires::Entity")]
    Fires,
}

impl Related<super::triggers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Triggers.def()
    }
}

impl Related<super::fires::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Fires.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
