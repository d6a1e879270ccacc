"""Training: the data, the pipeline and its grid, the tracked search, registration.

data       the penguins table from any SQLAlchemy URL, cleaned
model      the pipeline (one-hot + scaling -> random forest) and its 27-combination grid
trainer    train(): the grid search, the best model logged, registered and sent to the gate
runlog     the search's runs logged from its results: parent record, child runs, files, on threads
tracking   registration within a time budget, and the child runs as a table
progress   the grid search's progress bar and top-5 table
train_cli  python -m taller_mlflow.train
"""
