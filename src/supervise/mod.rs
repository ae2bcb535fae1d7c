//! The per-service supervisor: a pure state machine (`machine`) and the
//! `poll` loop that carries out its actions.

pub mod machine;
