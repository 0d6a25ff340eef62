// Inventory tests, filled below.
