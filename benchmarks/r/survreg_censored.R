# Timings of R's survival::survreg on the benchmark data of run_censored.py: the fastest R
# route for these models (no random effects: a lower bound; glmmTMB has no tobit or
# parametric survival family).  Args: weibull.csv tobit.csv reps.  Last stdout line is JSON.
suppressMessages({library(survival); library(jsonlite)})
args <- commandArgs(TRUE)
reps <- as.integer(args[3])
w <- read.csv(args[1]); tb <- read.csv(args[2])
time_it <- function(f) { t <- numeric(reps); for (i in seq_len(reps)) t[i] <- system.time(r <- f())[["elapsed"]]; list(median_s = median(t), loglik = as.numeric(logLik(r))) }
wb <- time_it(function() survreg(Surv(time, fail) ~ x1 + x2, data = w, dist = "weibull"))
tt <- time_it(function() survreg(Surv(y, y > 0, type = "left") ~ x1 + x2, data = tb, dist = "gaussian"))
cat(toJSON(list(weibull = wb, tobit = tt), auto_unbox = TRUE, digits = NA), "\n")
