-- Residents' choices: the chosen pickup point from the directory (where a
-- blocked unit's deliveries are diverted) and the allow and block lists of
-- carriers and drivers, as one JSON object
-- {"allowed_carriers":[…],"blocked_carriers":[…],"allowed_drivers":[…],"blocked_drivers":[…]}
-- (NULL: no lists).
ALTER TABLE unit_preferences ADD COLUMN pickup_point_id TEXT REFERENCES pickup_points (id);
ALTER TABLE unit_preferences ADD COLUMN access_lists TEXT;
