-- A delivery's timeline and its messages name the clip of its entry: the
-- naming read model finds clips by delivery.
CREATE INDEX clips_by_delivery ON clips (delivery_id) WHERE delivery_id IS NOT NULL;
