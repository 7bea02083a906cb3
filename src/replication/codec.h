// Conversions between consensus::Message / Entry and their wire form
// (peer.pb.Message / Entry, also the Paxos log's records). FromProto accepts any bytes a peer may send: unknown
// message types become kAccepted, which the core checks like any other
// message (and drops if it does not fit). Pure functions; thread-safe.
#pragma once

#include "consensus/paxos.h"
#include "peer.pb.h"

namespace kvgo::replication {

peer::pb::Message ToProto(const consensus::Message& m);
consensus::Message FromProto(const peer::pb::Message& m);
void ToProto(const consensus::Entry& e, peer::pb::Entry* out);
consensus::Entry FromProto(const peer::pb::Entry& e);
void ToProto(const consensus::Membership& m, peer::pb::Membership* out);
consensus::Membership FromProto(const peer::pb::Membership& m);  // normalized

}  // namespace kvgo::replication
