#include "replication/codec.h"

#include <algorithm>

namespace kvgo::replication {

consensus::Entry FromProto(const peer::pb::Entry& e) {
  consensus::Entry out;
  out.slot = e.slot();
  out.ballot = {e.ballot().round(), e.ballot().node()};
  out.noop = e.noop();
  if (e.has_config()) out.config = std::make_shared<const consensus::Membership>(FromProto(e.config()));
  out.config_base = e.config_base();
  if (!e.noop() && (!e.has_config() || !e.data().empty())) out.data = std::make_shared<const std::string>(e.data());
  return out;
}

void ToProto(const consensus::Membership& m, peer::pb::Membership* out) {
  for (auto id : m.voters) out->add_voters(id);
  for (auto id : m.learners) out->add_learners(id);
}

consensus::Membership FromProto(const peer::pb::Membership& p) {
  consensus::Membership m;
  m.voters.assign(p.voters().begin(), p.voters().end());
  m.learners.assign(p.learners().begin(), p.learners().end());
  m.Normalize();
  return m;
}

void ToProto(const consensus::Entry& e, peer::pb::Entry* out) {
  out->set_slot(e.slot);
  out->mutable_ballot()->set_round(e.ballot.round);
  out->mutable_ballot()->set_node(e.ballot.node);
  out->set_noop(e.noop);
  if (e.config) ToProto(*e.config, out->mutable_config());
  if (e.config_base != 0) out->set_config_base(e.config_base);
  if (!e.noop) out->set_data(e.value());
}

peer::pb::Message ToProto(const consensus::Message& m) {
  peer::pb::Message p;
  p.set_type(static_cast<uint32_t>(m.type));
  p.set_from(m.from);
  p.set_to(m.to);
  p.set_cluster_id(m.cluster_id);
  p.set_members_hash(m.members_hash);
  p.mutable_ballot()->set_round(m.ballot.round);
  p.mutable_ballot()->set_node(m.ballot.node);
  p.mutable_promised()->set_round(m.promised.round);
  p.mutable_promised()->set_node(m.promised.node);
  p.set_ok(m.ok);
  p.set_first_slot(m.first_slot);
  p.set_last_slot(m.last_slot);
  p.set_commit(m.commit);
  p.set_heartbeat(m.heartbeat);
  p.set_seq(m.seq);
  p.set_parts(m.parts);
  p.set_transfer(m.transfer);
  for (const auto& e : m.entries) ToProto(e, p.add_entries());
  return p;
}

consensus::Message FromProto(const peer::pb::Message& p) {
  consensus::Message m;
  m.type = p.type() <= static_cast<uint32_t>(consensus::MsgType::kTimeoutNow)
               ? static_cast<consensus::MsgType>(p.type())
               : consensus::MsgType::kAccepted;
  m.from = p.from();
  m.to = p.to();
  m.cluster_id = p.cluster_id();
  m.members_hash = p.members_hash();
  m.ballot = {p.ballot().round(), p.ballot().node()};
  m.promised = {p.promised().round(), p.promised().node()};
  m.ok = p.ok();
  m.first_slot = p.first_slot();
  m.last_slot = p.last_slot();
  m.commit = p.commit();
  m.heartbeat = p.heartbeat();
  m.seq = p.seq();
  m.parts = std::max<uint32_t>(1, p.parts());
  m.transfer = p.transfer();
  m.entries.reserve(p.entries_size());
  for (const auto& pe : p.entries()) m.entries.push_back(FromProto(pe));
  return m;
}

}  // namespace kvgo::replication
