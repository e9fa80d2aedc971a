//! `nodes`: every scheduler node's check-in, clock offset and liveness.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub pools: String,
    pub started_at: i64,
    pub last_checkin_at: i64,
    pub checkin_interval_ms: i64,
    pub clock_offset_ms: i64,
    pub state: String,
    pub declared_dead_by: Option<String>,
    pub declared_dead_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
