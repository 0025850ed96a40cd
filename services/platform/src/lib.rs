//! Shared platform code of Ferry's services: the message bus (RabbitMQ and its in-process
//! twin, inbox and outbox), configuration, telemetry, metrics, the admin HTTP scaffold and
//! database setup, and the egress guard for outgoing HTTP to addresses others chose.

pub mod admin;
pub mod backoff;
pub mod bus;
pub mod coalesce;
pub mod config;
pub mod connector;
pub mod db;
pub mod egress;
pub mod gdpr;
pub mod grouped;
pub mod metrics;
pub mod registry;
pub mod routes;
pub mod secrets;
pub mod service;
pub mod shutdown;
pub mod telemetry;
