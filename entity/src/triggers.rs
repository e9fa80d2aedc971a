//! `triggers`: when a job fires (cron, interval, calendar interval, daily
//! time interval or once), its next fire time, state and lease.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "triggers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job_id: i64,
    pub source: String,
    pub kind: String,
    pub cron_expr: Option<String>,
    pub cron_dialect: String,
    pub timezone: String,
    pub dst_gap: Option<String>,
    pub dst_fold: Option<String>,
    pub interval_ms: Option<i64>,
    pub interval_unit: Option<String>,
    pub interval_every: Option<i32>,
    pub daily_start: Option<String>,
    pub daily_end: Option<String>,
    pub days_of_week: Option<String>,
    pub preserve_hour_of_day: bool,
    pub skip_day_if_hour_missing: bool,
    pub start_at: i64,
    pub end_at: Option<i64>,
    pub repeat_count: Option<i64>,
    pub calendars: Option<String>,
    pub data: Option<String>,
    pub next_fire_at: Option<i64>,
    pub previous_fire_at: Option<i64>,
    pub times_fired: i64,
    pub misfire_policy: String,
    pub misfire_catch_up: Option<i32>,
    pub misfire_threshold_ms: Option<i64>,
    pub priority: i32,
    pub pool: String,
    pub state: String,
    pub error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub fence: i64,
    pub config_hash: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub paused: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::jobs::Entity",
        from = "Column::JobId",
        to = "super::jobs::Column::Id",
        on_delete = "Cascade"
    )]
    Jobs,
}

impl Related<super::jobs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Jobs.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
