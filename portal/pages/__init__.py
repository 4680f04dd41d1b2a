"""The pages people open from a mail (survey forms), with their templates and words."""
