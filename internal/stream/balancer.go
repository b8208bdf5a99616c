package stream

import (
	"cmp"
	"slices"

	"github.com/segmentio/kafka-go"
)

// coPartitionBalancer is range assignment that gives partition p of every
// input topic to one member, whatever order the broker lists partitions
// in. kafka-go's RangeGroupBalancer cuts each topic's partitions into
// ranges by their position in the metadata response, which no broker
// promises to sort (kfake lists them in Go map order, anew on every
// request): with the two topics listed in different orders, one member got
// orders 2 and customer-lifecycle 5. Partition p of both topics then had
// two owners, each merging one topic with nothing, and the merge, stream
// time and timers (SPEC §8) lost the event-time order they rely on.
// Sorting the list first makes member i's range the same numbers in every
// topic (the topics have the same partition count: checkCoPartitioned).
//
// The protocol name stays "range": during a rolling upgrade, old and new
// members still agree on a protocol, and whichever leads assigns.
type coPartitionBalancer struct{ kafka.RangeGroupBalancer }

// AssignGroups assigns ranges of the partitions sorted by topic and number.
func (b coPartitionBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	sorted := slices.Clone(partitions)
	slices.SortFunc(sorted, func(x, y kafka.Partition) int {
		return cmp.Or(cmp.Compare(x.Topic, y.Topic), cmp.Compare(x.ID, y.ID))
	})
	return b.RangeGroupBalancer.AssignGroups(members, sorted)
}
