# Stan references for bayes: metobit and bayes: mestreg (tests/test_bayes_stan.py), Stata's
# default priors: coefficients and ln_p normal(0, 10000) (sd 100), variances igamma(0.01, 0.01).
# One program for both: censored_survival.stan.
#   tobit:   bayes: metobit y x || g:, ll(0) ul(ulv)      (tests/reference/censored/tobit.csv)
#   kidney:  stset time, failure(infect)
#            bayes: mestreg age female || patient:, distribution(weibull)   (catheter data)
# Run from the repository root:  Rscript tests/reference/bayes/make_refs_bayes_censored.R
# Writes tests/reference/bayes/stan_refs_censored.json in stan_refs.json's format.
suppressMessages({library(rstan); library(jsonlite)})
rstan_options(auto_write = FALSE)
here <- "tests/reference/bayes"
n_chains <- 4; n_warmup <- 2000; n_draws <- 10000; seed <- 20261201
t0 <- Sys.time()
model <- stan_model(file.path(here, "censored_survival.stan"))
compile_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))

fit_case <- function(id, X, g, family, y, upper, fail, names_beta, extra) {
  N <- nrow(X)
  data <- list(N = N, P = ncol(X), J = max(g), family = family, X = X, g = g, y = y,
               ul = upper, fail = as.integer(fail), prior_sd = 100, ig_shape = 0.01,
               ig_scale = 0.01)
  t1 <- Sys.time()
  fit <- sampling(model, data = data, chains = n_chains, iter = n_warmup + n_draws,
                  warmup = n_warmup, seed = seed, cores = 2, refresh = 0,
                  control = list(adapt_delta = 0.9))
  wall <- as.numeric(difftime(Sys.time(), t1, units = "secs"))
  pars <- c(paste0("beta[", seq_len(ncol(X)), "]"), "var_u",
            if (family == 1) "sigma2[1]" else "ln_p[1]")
  arr <- as.array(fit, pars = pars)
  mon <- as.data.frame(monitor(arr, warmup = 0, print = FALSE))
  stata <- c(names_beta, "{var_U0}", extra)
  params <- list()
  for (i in seq_along(pars)) {
    draws <- as.vector(arr[, , pars[i]])
    r <- mon[pars[i], ]
    params[[stata[i]]] <- list(
      mean = r$mean, sd = r$sd, median = unname(quantile(draws, 0.5)),
      q025 = unname(quantile(draws, 0.025)), q975 = unname(quantile(draws, 0.975)),
      mcse_mean = r$se_mean, mcse_sd = r$MCSE_SD, mcse_median = r$MCSE_Q50,
      mcse_q025 = r$MCSE_Q2.5, mcse_q975 = r$MCSE_Q97.5,
      ess_bulk = r$Bulk_ESS, ess_tail = r$Tail_ESS, rhat = r$Rhat)
  }
  sp <- get_sampler_params(fit, inc_warmup = FALSE)
  divergent <- sum(sapply(sp, function(s) sum(s[, "divergent__"])))
  cat(sprintf("%s: %.1f s wall, %d divergent, min bulk ESS %.0f, max Rhat %.4f\n", id, wall,
              divergent, min(mon$Bulk_ESS), max(mon$Rhat)))
  list(id = id, params = params, divergent = divergent, wall_s = wall,
       min_ess_bulk = min(mon$Bulk_ESS))
}

tob <- read.csv("tests/reference/censored/tobit.csv")
cases <- list(fit_case("tobit_metobit", cbind(tob$x, 1), as.integer(factor(tob$g)), 1, tob$y,
                       tob$ulv, rep(0, nrow(tob)), c("{y:x}", "{y:_cons}"),
                       "{e.y:sigma2}"))
kid <- read.csv("tests/reference/censored/kidney.csv")
cases[[2]] <- fit_case("kidney_mestreg", cbind(kid$age, kid$female, 1),
                       as.integer(factor(kid$patient)), 2, kid$time, kid$time, kid$infect,
                       c("{_t:age}", "{_t:female}", "{_t:_cons}"), "{ln_p}")
names(cases) <- sapply(cases, function(c) c$id)
out <- list(
  sampler = list(chains = n_chains, warmup = n_warmup, draws = n_draws, seed = seed,
                 adapt_delta = 0.9, algorithm = "NUTS (rstan)"),
  priors = list(coefficients = "normal(0, 10000)", variances = "igamma(0.01, 0.01)",
                ln_p = "normal(0, 10000)"),
  software = list(R = R.version.string, rstan = as.character(packageVersion("rstan")),
                  StanHeaders = as.character(packageVersion("StanHeaders"))),
  compile_s = compile_s, cases = cases)
write(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
      file.path(here, "stan_refs_censored.json"))
