"""Posts: the one owner of the rules for creating, replacing, patching and removing a post."""
