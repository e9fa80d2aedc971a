//! `notifications`: one row per event a `[[notify]]` rule asked for, and
//! its delivery (leased like fires).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notify: String,
    pub event: String,
    #[sea_orm(unique)]
    pub dedup_key: String,
    pub job_name: Option<String>,
    pub fire_id: Option<i64>,
    pub node_id: Option<String>,
    pub fire_status: Option<String>,
    pub scheduled_at: Option<i64>,
    pub detail: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub due_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub fence: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
