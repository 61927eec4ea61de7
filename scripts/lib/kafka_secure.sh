# Secure mode of scripts/kafka (start --secure, acl-tenant): sourced by
# scripts/kafka, not run. Uses its globals (data, cluster, nbrokers,
# partitions, JAVA, LIBS, NODE_*) and helpers (say, die, run_tool,
# bootstrap_list, answers). docs/kafka-security.md explains the design.
#
# Listeners of every node in secure mode:
#   SASL_SSL://127.0.0.1:PORT    clients and inter-broker traffic: TLS (the
#                                node certificate below), then SASL
#                                SCRAM-SHA-512; the brokers log in as admin
#   CONTROLLER://127.0.0.1:CPORT KRaft controller traffic: mutual TLS (SSL,
#                                client certificate required, signed by the
#                                CA below); principal User:CN=ovoflow-kafka-broker
#                                (KRaft controllers cannot use SCRAM)
# StandardAuthorizer, allow.everyone.if.no.acl.found=false; super users
# User:admin (this script) and User:CN=ovoflow-kafka-broker (the nodes).
#
# DIR/secure/ (mode 700; every secret and client file mode 600):
#   ca.pem, ca.key           local CA (ECDSA P-256, 10 years), made once
#   broker.pem, broker.key   every node's certificate (CN=ovoflow-kafka-broker,
#                            SAN 127.0.0.1, ::1, localhost; server and client
#                            auth; 2 years, made again at start when it
#                            expires within 30 days or no longer matches the CA)
#   broker.p12               the same as the nodes' PKCS12 keystore
#   keystore.password        its password
#   users/NAME.password      each SCRAM principal's password (openssl rand)
#   scanners                 "SCANNER TENANT" lines: the tenant each scanner
#                            principal writes for
#   admin.properties         User:admin for Kafka's Java tools (--command-config)
#   NAME.conf                each principal's librdkafka config (key=value
#                            lines; kcat -F NAME.conf)
#   NAME.env                 the same as OVOFLOW_RDKAFKA_* variables, which
#                            every ovoflow subcommand reads (. NAME.env)
#   provisioned              topics and ACLs are made (later starts skip it)

SEC="$data/secure"
SEC_MECH=SCRAM-SHA-512
SEC_NODE_CN=ovoflow-kafka-broker
SCANS_PREFIX=ovoflow.scans.v1.
# The stages' principals (the demo scanners come from SEC_DEMO_SCANNERS).
SEC_SERVICES=(ovoflow-api ovoflow-infer ovoflow-store ovoflow-model-admin)
SEC_DEMO_SCANNERS=("scanner-a1 hatchery-a" "scanner-b1 hatchery-b")
# The other topics, as in src/common/topics.h.
SEC_TOPICS=(ovoflow.predictions.v1 ovoflow.deadletter.v1)
SEC_MODELS_TOPIC=ovoflow.models.v1

# Secure mode is remembered by DIR/secure/ holding the admin's password.
sec_enabled_in_dir() { [[ -s "$SEC/users/admin.password" ]]; }
sec_password() { cat "$SEC/users/$1.password"; }
# 1 while no node of the data dir is formatted (principals may still be made).
sec_new() {
  if compgen -G "$data/kraft/meta.properties" >/dev/null \
     || compgen -G "$data/node-*/kraft/meta.properties" >/dev/null; then echo 0; else echo 1; fi
}
sec_principals() {  # every principal with a password, admin first
  local f
  echo admin
  for f in "$SEC"/users/*.password; do
    f="${f##*/}"; f="${f%.password}"
    [[ "$f" == admin ]] || echo "$f"
  done
}

# A tenant id as src/common/validation.cc accepts it; also a Kafka topic
# suffix. A scanner id likewise, but neither admin nor a stage's name.
sec_valid_tenant() { [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]]; }
sec_valid_scanner() {
  sec_valid_tenant "$1" && [[ "$1" != admin && "$1" != ovoflow-* && "$1" != "$SEC_NODE_CN" ]]
}

# ------------------------------------------------------- certificates
sec_make_ca() {
  say "secure: creating a local CA in $SEC"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$SEC/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$SEC/ca.key" -sha256 -days 3650 \
    -subj "/O=ovoflow local/CN=ovoflow local Kafka CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$SEC/ca.pem" 2>/dev/null \
    || die "openssl could not make the CA in $SEC"
  rm -f "$SEC/broker.pem" "$SEC/broker.key" "$SEC/broker.p12"
}

sec_make_node_cert() {
  say "secure: creating the brokers' certificate (CN=$SEC_NODE_CN, SAN 127.0.0.1 ::1 localhost)"
  local ext="$SEC/broker.ext"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$SEC/broker.key" 2>/dev/null
  openssl req -new -key "$SEC/broker.key" -subj "/CN=$SEC_NODE_CN" -out "$SEC/broker.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" >"$ext"
  openssl x509 -req -in "$SEC/broker.csr" -CA "$SEC/ca.pem" -CAkey "$SEC/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -sha256 -days 730 -extfile "$ext" -out "$SEC/broker.pem" 2>/dev/null \
    || die "openssl could not sign the brokers' certificate"
  rm -f "$SEC/broker.csr" "$ext" "$SEC/broker.p12"
}

sec_node_cert_ok() {
  [[ -s "$SEC/broker.pem" && -s "$SEC/broker.key" ]] || return 1
  openssl x509 -in "$SEC/broker.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
  openssl verify -CAfile "$SEC/ca.pem" "$SEC/broker.pem" >/dev/null 2>&1
}

# --------------------------------------------------- client files
# NAME.conf (librdkafka), NAME.env (the same for ovoflow), and for admin
# also admin.properties (Java tools). Mode 600 (umask 077 in sec_prepare).
sec_write_client_files() {
  local name="$1" pw
  pw="$(sec_password "$name")"
  printf '%s\n' "# $name on the secured Kafka in $data (written by scripts/kafka)" \
    "security.protocol=sasl_ssl" "sasl.mechanisms=$SEC_MECH" "sasl.username=$name" \
    "sasl.password=$pw" "ssl.ca.location=$SEC/ca.pem" >"$SEC/$name.conf.tmp"
  mv "$SEC/$name.conf.tmp" "$SEC/$name.conf"
  printf '%s\n' "# $name on the secured Kafka in $data: . $SEC/$name.env" \
    "export OVOFLOW_RDKAFKA_SECURITY_PROTOCOL=sasl_ssl" "export OVOFLOW_RDKAFKA_SASL_MECHANISMS=$SEC_MECH" \
    "export OVOFLOW_RDKAFKA_SASL_USERNAME=$name" "export OVOFLOW_RDKAFKA_SASL_PASSWORD=$pw" \
    "$(printf 'export OVOFLOW_RDKAFKA_SSL_CA_LOCATION=%q' "$SEC/ca.pem")" >"$SEC/$name.env.tmp"
  mv "$SEC/$name.env.tmp" "$SEC/$name.env"
  if [[ "$name" == admin ]]; then
    printf '%s\n' "# User:admin (super user) for Kafka's tools: --command-config $SEC/admin.properties" \
      "security.protocol=SASL_SSL" "sasl.mechanism=$SEC_MECH" \
      "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$pw\";" \
      "ssl.truststore.type=PEM" "ssl.truststore.location=$SEC/ca.pem" >"$SEC/admin.properties.tmp"
    mv "$SEC/admin.properties.tmp" "$SEC/admin.properties"
  fi
}

sec_new_password() {  # sec_new_password NAME: once; 32 random bytes, hex
  [[ -s "$SEC/users/$1.password" ]] && return 0
  openssl rand -hex 32 >"$SEC/users/$1.password.tmp"
  mv "$SEC/users/$1.password.tmp" "$SEC/users/$1.password"
}

# At every start, before formatting: the CA, a valid node certificate and
# keystore, and the client files. NEW=1 (a data dir about to be formatted)
# also makes the built-in principals' passwords; on a formatted data dir a
# missing password is damage, not something to make up.
sec_prepare() {  # sec_prepare NEW
  command -v openssl >/dev/null || die "openssl not found (run scripts/setup)"
  local old_umask name
  old_umask="$(umask)"
  umask 077
  mkdir -p "$SEC/users"
  chmod 700 "$SEC" "$SEC/users"
  [[ -s "$SEC/ca.pem" && -s "$SEC/ca.key" ]] || sec_make_ca
  sec_node_cert_ok || sec_make_node_cert
  [[ -s "$SEC/keystore.password" ]] || openssl rand -hex 24 >"$SEC/keystore.password"
  if [[ ! -s "$SEC/broker.p12" || "$SEC/broker.pem" -nt "$SEC/broker.p12" ]]; then
    openssl pkcs12 -export -inkey "$SEC/broker.key" -in "$SEC/broker.pem" -certfile "$SEC/ca.pem" \
      -name broker -passout "file:$SEC/keystore.password" -out "$SEC/broker.p12.tmp" \
      || die "openssl could not write the keystore $SEC/broker.p12"
    mv "$SEC/broker.p12.tmp" "$SEC/broker.p12"
  fi
  if [[ "$1" == 1 ]]; then
    sec_new_password admin
    for name in "${SEC_SERVICES[@]}"; do sec_new_password "$name"; done
    [[ -f "$SEC/scanners" ]] || printf '%s\n' "${SEC_DEMO_SCANNERS[@]}" >"$SEC/scanners"
    while read -r name _; do [[ -n "$name" ]] && sec_new_password "$name"; done <"$SEC/scanners"
  fi
  sec_enabled_in_dir || die "$SEC/users/admin.password is missing; start --fresh --secure makes a new secure data dir"
  for name in $(sec_principals); do sec_write_client_files "$name"; done
  umask "$old_umask"
}

# ------------------------------------------------- broker config
# The listener and security part of server.properties for the node set by
# set_node (it holds the keystore and admin passwords: mode 600).
sec_server_config() {
  cat <<EOF
listeners=SASL_SSL://127.0.0.1:$NODE_PORT,CONTROLLER://127.0.0.1:$NODE_CPORT
advertised.listeners=SASL_SSL://127.0.0.1:$NODE_PORT
inter.broker.listener.name=SASL_SSL
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL

# --secure (scripts/lib/kafka_secure.sh): clients authenticate with SCRAM
# over TLS; the nodes talk to the controllers with mutual TLS.
sasl.enabled.mechanisms=$SEC_MECH
sasl.mechanism.inter.broker.protocol=$SEC_MECH
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(sec_password admin)";
ssl.keystore.type=PKCS12
ssl.keystore.location=$SEC/broker.p12
ssl.keystore.password=$(cat "$SEC/keystore.password")
ssl.truststore.type=PEM
ssl.truststore.location=$SEC/ca.pem
ssl.enabled.protocols=TLSv1.3,TLSv1.2
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:CN=$SEC_NODE_CN
EOF
}

# ------------------------------------------------------- tools
# The client addresses; a single broker's: the port it runs on.
sec_bootstrap() {
  local rp=""
  if [[ $cluster == 0 && $port_given == 0 ]]; then rp="$(running_port)" || rp=""; fi
  if [[ -n "$rp" ]]; then echo "127.0.0.1:$rp"; else bootstrap_list; fi
}

# Runs a Kafka tool with ARGS in a Java argument file (mode 600), so that
# passwords never show in the process list.
sec_run_tool_quiet() {  # sec_run_tool_quiet ARGS...
  local f a rc=0
  f="$(umask 077 && mktemp "$SEC/.args.XXXXXX")" || die "mktemp in $SEC failed"
  for a in "$@"; do
    a="${a//\\/\\\\}"; a="${a//\"/\\\"}"
    printf '"%s"\n' "$a"
  done >"$f"
  run_tool "@$f" || rc=$?
  rm -f "$f"
  return "$rc"
}

# The StorageTool format arguments for SCRAM: every principal, at once.
sec_scram_args() {
  local name
  for name in $(sec_principals); do
    printf '%s\n' --add-scram "$SEC_MECH=[name=$name,password=$(sec_password "$name")]"
  done
}

# sec_admin_tool CLASS ARGS...: a Kafka tool as admin; its output goes to
# provision.log, and its error line to stderr when it fails.
sec_admin_tool() {
  local class="$1" out rc=0
  shift
  out="$(run_tool "$class" --bootstrap-server "$(sec_bootstrap)" --command-config "$SEC/admin.properties" "$@" 2>&1)" \
    || rc=$?
  printf '== %s %s %s\n%s\n' "$(date -Is)" "$class" "$*" "$out" >>"$SEC/provision.log"
  if [[ $rc -ne 0 ]]; then
    grep -m 1 -E 'Error|Exception' <<<"$out" >&2 || tail -n 3 <<<"$out" >&2
  fi
  return "$rc"
}

# sec_grant "PRINCIPAL..." literal|prefixed "OPERATION..." RESOURCE-OPTIONS...
# One AclCommand run: every principal gets every operation on every resource.
sec_grant() {
  local principals="$1" pattern="$2" ops="$3" p
  shift 3
  local -a args=(--add --resource-pattern-type "$pattern")
  for p in $principals; do args+=(--allow-principal "User:$p"); done
  for p in $ops; do args+=(--operation "$p"); done
  sec_admin_tool kafka.admin.AclCommand "${args[@]}" "$@" \
    || die "granting $ops on $* to $principals failed (see $SEC/provision.log)"
}

sec_existing_topics() {
  kcat -L -F "$SEC/admin.conf" -b "$(sec_bootstrap)" -m 10 2>/dev/null \
    | sed -n 's/^  topic "\([^"]*\)".*/\1/p'
}

sec_create_topic() {  # sec_create_topic NAME PARTITIONS [TOPIC-CONFIG...]
  local name="$1" parts="$2" c
  shift 2
  local -a args=(--create --if-not-exists --topic "$name" --partitions "$parts")
  for c in "$@"; do args+=(--config "$c"); done
  sec_admin_tool org.apache.kafka.tools.TopicCommand "${args[@]}" \
    || die "creating topic $name failed (see $SEC/provision.log)"
  say "secure: created topic $name ($parts partitions)"
}

# A tenant's scan topic and a scanner principal writing only to it.
sec_grant_scanner() {  # sec_grant_scanner SCANNER TENANT
  sec_grant "$1" literal "Write Describe" --topic "$SCANS_PREFIX$2"
}

# After the first start: the topics, and every principal's ACLs
# (docs/kafka-security.md has them as a table). Skipped once done.
sec_provision() {
  [[ -f "$SEC/provisioned" ]] && return 0
  local t0=$SECONDS existing scanner tenant t
  local -a producers=(ovoflow-api ovoflow-infer ovoflow-store ovoflow-model-admin) scanners=()
  existing=" $(sec_existing_topics | tr '\n' ' ') "
  while read -r scanner tenant; do
    [[ -n "$scanner" ]] || continue
    scanners+=("$scanner")
    [[ "$existing" == *" $SCANS_PREFIX$tenant "* ]] || sec_create_topic "$SCANS_PREFIX$tenant" "$partitions"
  done <"$SEC/scanners"
  for t in "${SEC_TOPICS[@]}"; do
    [[ "$existing" == *" $t "* ]] || sec_create_topic "$t" "$partitions"
  done
  [[ "$existing" == *" $SEC_MODELS_TOPIC "* ]] || sec_create_topic "$SEC_MODELS_TOPIC" 1 cleanup.policy=compact

  say "secure: granting the ACLs (docs/kafka-security.md)"
  # Every producer is idempotent (librdkafka enable.idempotence).
  sec_grant "${producers[*]} ${scanners[*]}" literal IdempotentWrite --cluster
  while read -r scanner tenant; do
    [[ -n "$scanner" ]] && sec_grant_scanner "$scanner" "$tenant"
  done <"$SEC/scanners"
  # HTTP ingestion writes any tenant's scans; the live relay reads the
  # predictions (group ovoflow-live-<pid>-<time>); the model catalog follows
  # the models topic (its reader's group: ovoflow-api-models-reader).
  sec_grant ovoflow-api prefixed "Write Describe" --topic "$SCANS_PREFIX"
  sec_grant ovoflow-api literal Read --topic ovoflow.predictions.v1 --topic "$SEC_MODELS_TOPIC"
  sec_grant ovoflow-api prefixed Read --group ovoflow-live --group ovoflow-api-models
  # Inference: every tenant's scans in group ovoflow-infer (and its model
  # follower's reader group ovoflow-infer-<worker>-models-reader), the
  # models, transactions with transactional.id ovoflow-infer-<worker>.
  sec_grant ovoflow-infer prefixed Read --topic "$SCANS_PREFIX" --group ovoflow-infer
  sec_grant ovoflow-infer literal Read --topic "$SEC_MODELS_TOPIC"
  sec_grant ovoflow-infer literal Write --topic ovoflow.predictions.v1 --topic ovoflow.deadletter.v1
  sec_grant ovoflow-infer prefixed "Write Describe" --transactional-id ovoflow-infer-
  # Store writer: predictions in group ovoflow-store, its dead letters.
  sec_grant ovoflow-store literal Read --topic ovoflow.predictions.v1 --group ovoflow-store
  sec_grant ovoflow-store literal Write --topic ovoflow.deadletter.v1
  # Model activation: the only writer of the models topic.
  sec_grant ovoflow-model-admin literal "Read Write" --topic "$SEC_MODELS_TOPIC"
  sec_grant ovoflow-model-admin prefixed Read --group ovoflow-api-models
  date -Is >"$SEC/provisioned"
  say "secure: topics and ACLs ready in $((SECONDS - t0)) s"
}

sec_print_files() {
  say "secure: SASL_SSL + $SEC_MECH on $(sec_bootstrap); CA $SEC/ca.pem"
  say "secure: librdkafka configs (kcat -F FILE): $SEC/<principal>.conf, the same as env: $SEC/<principal>.env"
  say "secure: principals: $(sec_principals | tr '\n' ' ')"
  say "secure: Kafka tools as admin: scripts/kafka tool CLASS --bootstrap-server $(sec_bootstrap) --command-config $SEC/admin.properties"
}

# scripts/kafka acl-tenant TENANT SCANNER: the tenant's scan topic, a scanner
# principal (new password) and its ACLs, on the running secured broker(s).
sec_acl_tenant() {  # sec_acl_tenant TENANT SCANNER
  local tenant="$1" scanner="$2" had
  sec_valid_tenant "$tenant" || die "bad tenant id '$tenant' (A-Z a-z 0-9 . _ -, starting with a letter or digit, at most 64)"
  sec_valid_scanner "$scanner" \
    || die "bad scanner id '$scanner' (as a tenant id; not admin, ovoflow-* or $SEC_NODE_CN)"
  sec_enabled_in_dir || die "$data holds no secured Kafka (start --secure makes one)"
  answers "$port" || die "the broker on 127.0.0.1:$port does not answer; start it first"
  had="$(sed -n "s/^$scanner //p" "$SEC/scanners" 2>/dev/null)"
  [[ -z "$had" || "$had" == "$tenant" ]] \
    || die "scanner $scanner already writes for tenant $had; a scanner has one tenant (pick another id)"
  lock_data
  local old_umask; old_umask="$(umask)"; umask 077
  [[ " $(sec_existing_topics | tr '\n' ' ') " == *" $SCANS_PREFIX$tenant "* ]] \
    || sec_create_topic "$SCANS_PREFIX$tenant" "$partitions"
  if [[ ! -s "$SEC/users/$scanner.password" ]]; then
    sec_new_password "$scanner"
    echo "== $(date -Is) ConfigCommand: SCRAM credential of $scanner" >>"$SEC/provision.log"
    sec_run_tool_quiet kafka.admin.ConfigCommand --bootstrap-server "$(sec_bootstrap)" \
      --command-config "$SEC/admin.properties" --alter --entity-type users --entity-name "$scanner" \
      --add-config "$SEC_MECH=[password=$(sec_password "$scanner")]" >>"$SEC/provision.log" 2>&1 \
      || { rm -f "$SEC/users/$scanner.password"; die "creating the SCRAM user $scanner failed (see $SEC/provision.log)"; }
    say "secure: SCRAM user $scanner created"
  fi
  sec_grant "$scanner" literal IdempotentWrite --cluster
  sec_grant_scanner "$scanner" "$tenant"
  [[ -n "$had" ]] || echo "$scanner $tenant" >>"$SEC/scanners"
  sec_write_client_files "$scanner"
  umask "$old_umask"
  say "secure: $scanner may write $SCANS_PREFIX$tenant only; its librdkafka config: $SEC/$scanner.conf"
}
