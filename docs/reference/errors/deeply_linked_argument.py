"""A linked list too deep to pickle, sent to a pool as a task's argument."""

from _producer import report, start_context


class Node:
    def __init__(self, next_node=None):
        self.next_node = next_node


def length(head):
    count = 0
    while head is not None:
        count, head = count + 1, head.next_node
    return count


if __name__ == "__main__":
    context = start_context()
    head = None
    for _ in range(20_000):
        head = Node(head)
    with context.Pool(1) as pool:
        try:
            pool.apply(length, (head,))
        except RecursionError as error:
            report(error)
