;; The nbb side of the Clojure block checks (see course/clojure_blocks.py). nbb is
;; ClojureScript on SCI, the interpreter Scittle runs in the browser, so a block that
;; passes here runs in the page. One Node process for every block; each block is evaluated
;; in a fresh namespace, form by form, and its `;; =>` values compared with =.
;;
;; Usage: nbb course/clojure_runner.cljs job.edn
;; Prints one line per block: `@@START <id>` before, `@@RESULT <json>` after.

(ns clojure-blocks.runner
  (:require ["fs" :as fs]
            [clojure.edn :as edn]
            [clojure.string :as str]))

(defn- short [s]
  (let [s (str/replace (str s) #"\s+" " ")]
    (if (> (count s) 70) (str (subs s 0 67) "...") s)))

(defn- show [v] (binding [*print-length* 20 *print-level* 6] (short (pr-str v))))

(defn- class-name [e]
  (cond (instance? ExceptionInfo e) "ExceptionInfo"
        (instance? js/Error e) (.-name e)
        :else (str (type e))))

(defn- throws-match? [e cls]
  (case cls
    ":default" true
    "ExceptionInfo" (instance? ExceptionInfo e)
    (let [c (try (eval (symbol (str/replace cls #"^js/" "js/"))) (catch :default _ nil))]
      (and (fn? c) (instance? c e)))))

(defn- eval-step [step]
  (let [out (atom "")
        form-text (:text step)
        res (binding [*print-fn* (fn [s] (swap! out str s))
                      *print-newline* true]
              (try
                {:value (eval (read-string form-text))}
                (catch :default e {:thrown e})))
        where (str "`" (short form-text) "`")]
    (merge
     {:line (:line step) :out @out}
     (case (:expect step)
       "value"
       (if-let [e (:thrown res)]
         {:ok false :message (str where " threw " (class-name e) ": " (ex-message e)
                                  " on nbb; expected " (short (:value step)))}
         (let [expected (try {:v (read-string (:value step))}
                             (catch :default e {:error (ex-message e)}))
               actual (:value res)]
           (cond
             (:error expected)
             {:ok false :message (str "cannot read the expected value `" (short (:value step))
                                      "` on nbb: " (:error expected))}
             (not= (:v expected) actual)
             {:ok false :message (str where " returned " (show actual) " on nbb (ClojureScript), "
                                      "but the page says => " (short (:value step)))}
             :else {:ok true :actual (pr-str actual)})))

       "throws"
       (if-let [e (:thrown res)]
         (cond
           (not (throws-match? e (:cls step)))
           {:ok false :message (str where " threw " (class-name e) " (" (ex-message e)
                                    ") on nbb, but the page says it throws " (:cls step))}
           (and (:msg step) (not (str/includes? (str (ex-message e)) (:msg step))))
           {:ok false :message (str where " threw with the message " (pr-str (ex-message e))
                                    " on nbb, which does not contain " (pr-str (:msg step)))}
           :else {:ok true :actual (str "throws " (class-name e))})
         {:ok false :message (str where " returned " (show (:value res)) " on nbb, but the page "
                                  "says it throws " (:cls step))})

       (if-let [e (:thrown res)]
         {:ok false :message (str where " threw " (class-name e) ": " (ex-message e)
                                  " on nbb (mark an expected error with `;; throws ExceptionInfo`)")}
         {:ok true})))))

(defn- eval-block [n block]
  (let [before (set (map ns-name (all-ns)))
        steps (binding [*ns* (create-ns (symbol (str "clojure-blocks.b" n)))]
                (eval '(clojure.core/refer-clojure))
                (loop [[s & more] (:steps block) acc []]
                  (if s
                    (let [r (eval-step s)]
                      (if (:ok r) (recur more (conj acc r)) (conj acc r)))
                    acc)))]
    (doseq [ns (all-ns) :when (not (contains? before (ns-name ns)))]
      (try (remove-ns (ns-name ns)) (catch :default _ nil)))
    {:steps steps}))

(defn- emit [m] (println (str "@@RESULT " (js/JSON.stringify (clj->js m)))))

(let [job-file (first *command-line-args*)
      {:keys [blocks]} (edn/read-string (str (fs/readFileSync job-file "utf8")))]
  (doseq [[n block] (map-indexed vector blocks)]
    (println (str "@@START " (:id block)))
    (emit (assoc (try (eval-block n block)
                      (catch :default e {:error (str "the checker failed: " (ex-message e))}))
                 :id (:id block)))))
