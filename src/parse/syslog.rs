//! Syslog framing: RFC 3164, RFC 5424 / ISO 8601, and Exim's own log format.
