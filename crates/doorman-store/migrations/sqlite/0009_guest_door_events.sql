-- A lock's door events name a credential id or a door code's (slot, index);
-- the service finds the guest pass they belong to among the property's
-- passes whose window is around the event's time
-- (`VehicleStore::guest_passes_valid_between`).
CREATE INDEX guest_passes_by_property ON guest_passes (property_id, valid_until);
