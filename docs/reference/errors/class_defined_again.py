"""An object whose class was defined again after it was made (a notebook cell run twice)."""

from _producer import report_start, start_context


class Point:
    pass


point_from_before = Point()


class Point:  # defined again, as running a notebook cell twice does
    pass


def use(point):
    return point


if __name__ == "__main__":
    context = start_context()
    report_start(
        context.Process(target=use, args=(point_from_before,)),
        "a forked child gets the object without pickling it",
    )
