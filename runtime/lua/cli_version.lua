-- cli_version: the version string (kept in one place for status and CLI).
return "0.1.0"
