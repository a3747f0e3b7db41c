#!/bin/bash
# Roles of the demo image (ROLE=...):
#   mx-a     Postfix: accepts the test mail; relays to mx-b, dest2.example.test via mx-e;
#            final destination of src.example.test (receives bounces)
#   mx-b     Postfix (long queue IDs): relays to mx-c, src.example.test back to mx-a
#   mx-c     Postfix: delivers dest.example.test and dest2.example.test to Maildirs; unknown
#            users are rejected at RCPT (a bounce travels back to the sender)
#   mx-e     Exim: relays everything to mx-c
#   loghost  rsyslog: syslog over TCP in, OpenSearch out (omelasticsearch)
#   traffic  swaks in a loop against mx-a
set -euo pipefail
ROLE=${ROLE:?set ROLE}

start_rsyslog() {  # local syslog socket, forwarding mail.* to the loghost
  mkdir -p /var/spool/rsyslog
  rm -f /run/rsyslogd.pid
  rsyslogd -f /etc/mailtrace-demo/rsyslog-forward.conf
}

postfix_common() {
  [ -f /etc/postfix/master.cf ] || cp /usr/share/postfix/master.cf.dist /etc/postfix/master.cf
  : >/etc/postfix/main.cf
  postconf -e \
    "compatibility_level = 3.6" \
    "myhostname = $ROLE.example.test" \
    "mydestination =" \
    "inet_interfaces = all" \
    "inet_protocols = ipv4" \
    "mynetworks = 127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16" \
    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
    "smtp_dns_support_level = disabled" \
    "smtp_host_lookup = native" \
    "smtpd_peername_lookup = no" \
    "smtp_tls_security_level = none" \
    "smtpd_tls_security_level = none" \
    "alias_maps =" "alias_database =" "biff = no" \
    "maillog_file =" \
    "queue_run_delay = 30s" "minimal_backoff_time = 30s" "maximal_backoff_time = 60s" \
    "virtual_mailbox_base = /var/mail/vhosts" \
    "virtual_uid_maps = static:65534" "virtual_gid_maps = static:65534" \
    "virtual_minimum_uid = 100"
  # No chroot: the chroot jail would need its own copies of /etc/hosts and the syslog socket.
  postconf -F '*/*/chroot = n'
  install -d -o 65534 -g 65534 /var/mail/vhosts
}

case $ROLE in
  mx-a)
    postfix_common
    postconf -e "relayhost = [mx-b]:25" \
      "transport_maps = inline:{ {dest2.example.test=smtp:[mx-e]:25} }" \
      "virtual_mailbox_domains = src.example.test" \
      "virtual_mailbox_maps = static:inbox/"
    start_rsyslog; postfix check; exec postfix start-fg ;;
  mx-b)
    postfix_common
    postconf -e "relayhost = [mx-c]:25" "enable_long_queue_ids = yes" \
      "transport_maps = inline:{ {src.example.test=smtp:[mx-a]:25} }"
    start_rsyslog; postfix check; exec postfix start-fg ;;
  mx-c)
    postfix_common
    postconf -e "virtual_mailbox_domains = dest.example.test, dest2.example.test" \
      "virtual_mailbox_maps = inline:{ {alice@dest.example.test=alice/}, {bob@dest.example.test=bob/}, {carol@dest.example.test=carol/}, {alice@dest2.example.test=alice2/} }"
    start_rsyslog; postfix check; exec postfix start-fg ;;
  mx-e)
    cp /etc/mailtrace-demo/exim4.conf /etc/exim4/exim4.conf
    start_rsyslog
    exec exim -bdf -q30s ;;
  loghost)
    mkdir -p /var/spool/rsyslog
    rm -f /run/rsyslogd.pid
    exec rsyslogd -n -f /etc/mailtrace-demo/rsyslog-loghost.conf ;;
  traffic)
    exec /usr/local/bin/traffic.sh ;;
  *) echo "unknown ROLE=$ROLE" >&2; exit 2 ;;
esac
