"""A dict registered on a manager without DictProxy, then assigned to."""

from multiprocessing.managers import BaseManager

from _producer import report, start_context


class ResultsManager(BaseManager):
    pass


ResultsManager.register("get_results", callable=dict)

if __name__ == "__main__":
    context = start_context()
    with ResultsManager(ctx=context) as manager:
        results = manager.get_results()
        try:
            results["job"] = 1
        except TypeError as error:
            report(error)
