//! `fires`: one row per attempt of one scheduled fire, unique on
//! (trigger, scheduled time, attempt), with its outcome.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "fires")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub trigger_id: Option<i64>,
    pub job_id: i64,
    pub job_name: String,
    pub scheduled_at: i64,
    pub due_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub node_id: Option<String>,
    pub attempt: i32,
    pub fence: i64,
    pub status: String,
    pub recovery: bool,
    pub reason: Option<String>,
    pub error: Option<String>,
    pub output: Option<String>,
    pub data: Option<String>,
    pub jitter_ms: Option<i64>,
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
    #[sea_orm(
        belongs_to = "super::triggers::Entity",
        from = "Column::TriggerId",
        to = "super::triggers::Column::Id",
        on_delete = "SetNull"
    )]
    Triggers,
}

impl Related<super::jobs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Jobs.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
