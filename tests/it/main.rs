
mod store_events;
