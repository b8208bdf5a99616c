package stream

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
)

// TestGroupAssignsCoPartitionsToOneMember: whatever order the broker lists
// each topic's partitions in (kfake lists them in Go map order, a new one
// on each metadata request, and no broker promises an order), the group's
// assignment gives partition p of every input topic to the same member.
// The merge, stream time and timers of partition p rely on that (SPEC §1,
// §8). kafka-go's range balancer alone splits the ranges by list position,
// so with the lists in different orders a member got orders 2 and
// customer-lifecycle 5: its merge waited for a lane no fetcher fed, and
// after the merge's max wait sent the other topic's records in fetch order
// (TestChaos saw customers marked lapsed by their first order, churned
// before any).
func TestGroupAssignsCoPartitionsToOneMember(t *testing.T) {
	topics := []string{"orders", "customer-lifecycle"}
	balancers := (&Consumer{}).groupConfig().GroupBalancers
	if len(balancers) == 0 {
		t.Fatal("the group config names no balancer")
	}
	for _, tc := range []struct{ members, partitions int }{
		{1, 6}, {2, 6}, {3, 6}, {4, 6}, {3, 7}, {5, 3}, {3, 48},
	} {
		t.Run(fmt.Sprintf("%d members, %d partitions", tc.members, tc.partitions), func(t *testing.T) {
			var members []kafka.GroupMember
			for i := range tc.members {
				members = append(members, kafka.GroupMember{ID: fmt.Sprintf("member-%d", i), Topics: topics})
			}
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, uint64(tc.partitions)))
				var listed []kafka.Partition
				for _, topic := range topics {
					for _, p := range rng.Perm(tc.partitions) {
						listed = append(listed, kafka.Partition{Topic: topic, ID: p})
					}
				}
				rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
				for _, b := range balancers {
					checkCoPartitioned(t, b.AssignGroups(members, listed), topics, tc.partitions)
				}
			}
		})
	}
}

// checkCoPartitioned fails t unless every partition number of each topic
// is assigned exactly once, and each member holds the same numbers of
// every topic.
func checkCoPartitioned(t *testing.T, got kafka.GroupMemberAssignments, topics []string, partitions int) {
	t.Helper()
	owner := map[int]string{}
	for member, byTopic := range got {
		first := slices.Sorted(slices.Values(byTopic[topics[0]]))
		for _, topic := range topics[1:] {
			if other := slices.Sorted(slices.Values(byTopic[topic])); !slices.Equal(first, other) {
				t.Fatalf("%s holds %s %v but %s %v", member, topics[0], first, topic, other)
			}
		}
		for _, p := range first {
			if prev, dup := owner[p]; dup {
				t.Fatalf("partition %d assigned to %s and %s", p, prev, member)
			}
			owner[p] = member
		}
	}
	if len(owner) != partitions {
		t.Fatalf("%d of %d partitions assigned: %v", len(owner), partitions, got)
	}
}
