-- A report sums what the app reported per cell over its period. With every column the sum
-- reads in this index, in the order the report groups by, it is read from the index alone,
-- already grouped: no lookup of each row in the table, no sort. It replaces the index on
-- (client_id, day) it extends, so ingest still maintains one index besides the key.
CREATE INDEX partner_events_cells ON partner_events
    (client_id, day, interface, surface, variation, channel, sends, clicks);
DROP INDEX partner_events_day;
