"""The learned temperature model of the oscillator and holdover with it, in its parts (all pure).

Each module imports only those above it (model_io.py names TempCompModel for type checks only):

    series.py         the input samples, checked (SampleError); units and array types
    noise.py          oscillator noise from the Allan deviation; the held time-error variance
    table.py          the B-spline frequency-temperature table and its knot grid
    extrapolation.py  beyond the trained range: the prediction and its envelope
    lag.py            the crystal's temperature: the sensor through a first-order lag
    model_io.py       the stored form of a model (ModelError)
    model.py          TempCompModel: the model's state, its regressors and the Kalman update
    bins.py           samples averaged into bins for the fit
    wls.py            the fit's penalised weighted least squares
    fit.py            the batch fit: lag search, outliers, noise, covariance
    bound.py          holdover: the predicted frequency and the 99 % time-error bound
    records.py        locked ticks averaged into regular records
    learn.py          ModelLearner: records into the model, refits (RefitRequest), the stored state
    predictor.py      TempCompPredictor: the discipline's hook, a learner that also predicts
    select.py         the table, the AT-cut cubic or a quadratic, chosen by backtesting on the
                      node's history, with a bound calibrated by the same backtests (used by
                      sim/holdover_eval.py and the benchmark; not yet by the predictor)
"""
